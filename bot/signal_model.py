"""The danger-signal classifier at run time: plain-data weights, scored in pure Python.

The weights are trained with scikit-learn by bot/signal_training.py and kept in
bot/content/signals-model.json: for each character n-gram its inverse document frequency
and one weight per crisis class, an intercept per class, and two thresholds per class
chosen on the validation split. Scoring repeats exactly what scikit-learn's
TfidfVectorizer (sublinear term frequency, L2 norm) and one logistic regression per class
compute, so the running bot needs neither scikit-learn nor a pickled object.

One class at a time (one-vs-rest), so a message can carry several: a 16-year-old being
blackmailed is both `minor` and `extortion`. Each class's probability falls in one of
three zones: below `ask` it is ordinary talk, from `ask` Haven asks directly, from
`clear` it answers as a crisis at once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bot.content import CONTENT_DIR, ContentError
from bot.signal_text import NGRAM_RANGE, RECIPE, counts

MODEL_PATH = CONTENT_DIR / "signals-model.json"


class Zone(StrEnum):
    ORDINARY = "ordinary"
    UNCERTAIN = "uncertain"
    CLEAR = "clear"


@dataclass(frozen=True)
class Thresholds:
    ask: float
    clear: float

    def zone(self, probability: float) -> Zone:
        if probability >= self.clear:
            return Zone.CLEAR
        if probability >= self.ask:
            return Zone.UNCERTAIN
        return Zone.ORDINARY


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
            document = json.loads(path.read_text(encoding="utf-8"))
            return cls.from_document(document)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ContentError(f"{path.name}: {exc}") from exc

    @classmethod
    def from_document(cls, document: Mapping[str, object]) -> SignalModel:
        recipe = document["recipe"]
        if recipe != RECIPE or tuple(document["ngram_range"]) != NGRAM_RANGE:  # type: ignore[call-overload]
            raise ValueError(
                f"made with recipe {recipe!r}, this Haven reads {RECIPE!r}: "
                "retrain with `python -m bot.signal_training`"
            )
        classes = tuple(document["classes"])  # type: ignore[call-overload]
        features = {
            gram: tuple(float(value) for value in values)
            for gram, values in document["features"].items()  # type: ignore[attr-defined]
        }
        if any(len(values) != len(classes) + 1 for values in features.values()):
            raise ValueError("each feature needs an idf and one weight per class")
        raw = document["thresholds"]
        thresholds = {c: Thresholds(float(raw[c]["ask"]), float(raw[c]["clear"])) for c in classes}  # type: ignore[index]
        intercepts = tuple(float(b) for b in document["intercepts"])  # type: ignore[attr-defined]
        return cls(classes, features, intercepts, thresholds)

    def probabilities(self, text: str) -> dict[str, float]:
        """The probability of each class for one message."""
        found = [(self._features.get(gram), tf) for gram, tf in counts(text).items()]
        norm = 0.0
        sums = [0.0] * len(self.classes)
        for values, tf in found:
            if values is None:
                continue
            weight = (1.0 + math.log(tf)) * values[0]
            norm += weight * weight
            for index in range(len(sums)):
                sums[index] += weight * values[index + 1]
        scale = 1.0 / math.sqrt(norm) if norm else 0.0
        return {
            name: _sigmoid(total * scale + intercept)
            for name, total, intercept in zip(self.classes, sums, self._intercepts, strict=True)
        }

    def zones(self, text: str) -> dict[str, Zone]:
        return {
            name: self.thresholds[name].zone(probability)
            for name, probability in self.probabilities(text).items()
        }


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
