"""The danger-signal classifier at run time: plain-data weights, scored in pure Python.

The weights are trained with scikit-learn by bot/conversation/signal_training.py and kept in
bot/content/signals-model.json: for each feature (a character n-gram, an English word or
word pair) its inverse document frequency and one weight per crisis class, an intercept
per class, and per class the thresholds chosen by cross-validation. Scoring repeats
exactly what scikit-learn's TfidfVectorizer (sublinear term frequency, L2 norm) and one
logistic regression per class compute, so the running bot needs neither scikit-learn nor
a pickled object.

One class at a time (one-vs-rest), so a message can carry several: a 16-year-old being
blackmailed is both `minor` and `extortion`. Each class's probability falls in one of
three zones: below `ask` it is ordinary talk, from `ask` Haven asks directly, from
`clear` it answers as a crisis at once. A message of several sentences or clauses is
also read one piece at a time (see :meth:`SignalModel.zones`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.content.playbook import CONTENT_DIR, ContentError
from bot.conversation.signal_text import (
    NGRAM_RANGE,
    RECIPE,
    clauses,
    consequences,
    counts,
    sentences,
)

MODEL_PATH = CONTENT_DIR / "signals-model.json"


class Zone(StrEnum):
    ORDINARY = "ordinary"
    UNCERTAIN = "uncertain"
    CLEAR = "clear"


@dataclass(frozen=True)
class Thresholds:
    ask: float
    clear: float
    # Where one sentence of a longer message, read alone, makes the message uncertain;
    # None: only where it is clear alone.
    sentence: float | None = None

    def zone(self, probability: float) -> Zone:
        if probability >= self.clear:
            return Zone.CLEAR
        if probability >= self.ask:
            return Zone.UNCERTAIN
        return Zone.ORDINARY

    def lifts(self, probability: float) -> bool:
        """Whether a sentence scored ``probability`` alone makes its message worth asking about."""
        return probability >= (self.clear if self.sentence is None else self.sentence)

    def clears(self, probability: float) -> bool:
        """Whether a clause scored ``probability`` alone makes its message worth asking about."""
        return probability >= self.clear


class _Zones(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ask: float
    clear: float
    sentence: float | None = None


class _Document(BaseModel):
    """The model file as written by bot/conversation/signal_training.py."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    recipe: str
    ngram_range: tuple[int, int]
    classes: tuple[str, ...]
    intercepts: tuple[float, ...]
    thresholds: dict[str, _Zones]
    # feature → (idf, weight of each class in `classes` order)
    features: dict[str, tuple[float, ...]]


class SignalModel:
    def __init__(
        self,
        classes: tuple[str, ...],
        features: Mapping[str, tuple[float, ...]],
        intercepts: tuple[float, ...],
        thresholds: Mapping[str, Thresholds],
    ) -> None:
        self.classes = classes
        self._features = features
        self._intercepts = intercepts
        self.thresholds = thresholds

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> SignalModel:
        """Raises ContentError when the file is missing, malformed or of another recipe."""
        try:
            document = _Document.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise ContentError(f"{path.name}: {exc}") from exc
        if document.recipe != RECIPE or document.ngram_range != NGRAM_RANGE:
            raise ContentError(
                f"{path.name} was made with recipe {document.recipe!r}, this Haven reads "
                f"{RECIPE!r}: retrain it with `make signals-model`"
            )
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: _Document) -> SignalModel:
        width = len(document.classes) + 1
        if any(len(values) != width for values in document.features.values()):
            raise ContentError("each n-gram needs an idf and one weight per class")
        if len(document.intercepts) != len(document.classes):
            raise ContentError("one intercept per class is needed")
        missing = set(document.classes) - set(document.thresholds)
        if missing:
            raise ContentError(f"no thresholds for {sorted(missing)}")
        thresholds = {
            name: Thresholds(zones.ask, zones.clear, zones.sentence)
            for name, zones in document.thresholds.items()
        }
        return cls(document.classes, document.features, document.intercepts, thresholds)

    def probabilities(self, text: str) -> dict[str, float]:
        """The probability of each class for one message."""
        features = self._features
        weights: list[float] = []
        rows: list[tuple[float, ...]] = []
        for gram, tf in counts(text).items():
            values = features.get(gram)
            if values is None:
                continue
            # Sublinear tf, 1 + log(tf): just the idf for the many n-grams seen once.
            weights.append(values[0] if tf == 1 else (1.0 + math.log(tf)) * values[0])
            rows.append(values)
        norm = sum(map(operator.mul, weights, weights))
        # Column by column, the products in C: a pasted chat log has thousands of n-grams.
        sums = [
            sum(map(operator.mul, weights, map(operator.itemgetter(k), rows)))
            for k in range(1, len(self.classes) + 1)
        ]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        return {
            name: _sigmoid(total * scale + intercept)
            for name, total, intercept in zip(self.classes, sums, self._intercepts, strict=True)
        }

    def zones(
        self, text: str, *, by_sentence: bool = True, crisis: bool = False
    ) -> dict[str, Zone]:
        """Each class's zone for the message. A message of several sentences or clauses is
        read piece by piece too (unless ``by_sentence`` is false): a sentence that
        reaches its class's `sentence` threshold on its own (`clear`, or for self-harm
        halfway there), or a clause, or what follows an "or else", that is clear on its
        own, makes the message at least uncertain for it (Haven asks), so that a cry for
        help at the end of a long account, or "我初三" before a long story, is not drowned
        by the rest of it. Not clear: each piece read alone is one more chance of a false
        alarm, and a question costs less than an alarm. But in a message that is clear
        for some class already (or a ``crisis`` by the phrases), a piece clear on its own
        is clear: the alarm goes out anyway, and "pay 3 lakhs, else he will kill me"
        must get the threat's reply too, where a question would not be asked; and a
        piece that would be asked about alone is uncertain, for the staff alert."""
        found = {
            name: self.thresholds[name].zone(probability)
            for name, probability in self.probabilities(text).items()
        }
        for piece, lifts in _pieces(text) if by_sentence else ():
            crisis = crisis or Zone.CLEAR in found.values()
            if Zone.ORDINARY not in found.values() and not crisis:
                break  # nothing left a piece could lift
            for name, probability in self.probabilities(piece).items():
                found[name] = _lifted(
                    found[name], self.thresholds[name], probability, lifts, crisis
                )
        return found


def _lifted(
    zone: Zone,
    thresholds: Thresholds,
    probability: float,
    lifts: Callable[[Thresholds, float], bool],
    crisis: bool,
) -> Zone:
    """The message's zone for a class after one of its pieces scored ``probability``.
    Beside a crisis, a piece that would be asked about alone is uncertain: no question
    is asked on top of a crisis reply, but the staff alert names it ("15 and wanna
    die": the alert is about a minor too)."""
    if zone is Zone.CLEAR:
        return zone
    if crisis and thresholds.clears(probability):
        return Zone.CLEAR
    if zone is Zone.UNCERTAIN:
        return zone
    asked_beside_a_crisis = crisis and thresholds.zone(probability) is Zone.UNCERTAIN
    if lifts(thresholds, probability) or asked_beside_a_crisis:
        return Zone.UNCERTAIN
    return zone


def _pieces(text: str) -> Iterator[tuple[str, Callable[[Thresholds, float], bool]]]:
    """The sentences of a message of several, each with the test it must pass to lift
    the message; then the clauses (cut at commas, "and", "but") of each sentence that
    has several, and what follows each "or else" in them, which must be clear on their
    own: a clause says less than a sentence."""
    split = sentences(text)
    for sentence in split:
        yield sentence, Thresholds.lifts
    for sentence in split or [text]:
        cut = clauses(sentence)
        for clause in cut or [sentence]:
            if cut:
                yield clause, Thresholds.clears
            for consequence in consequences(clause):
                yield consequence, Thresholds.clears


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@cache
def default_model() -> SignalModel:
    """The model file shipped beside the content, read once per process."""
    return SignalModel.load()
