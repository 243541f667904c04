"""The playbook as data: triage questions, steps, checklist items and texts per locale.

Content lives in TOML files beside this module so that staff and lawyers can correct the
guidance without touching code. `playbook.toml` holds the structure, `signals.toml` the
danger signals, `citations.toml` the legal sources, and one file per locale the words.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.content.deadlines import parse_schedule

CONTENT_DIR = Path(__file__).parent
LOCALES = ("zh-CN", "en")
# How an item's deadlines become reminders: nudges while it is still open, or check-ins
# on how it went once it is done.
REMIND_MODES = ("until_done", "after_done")

_CITATION_TOKEN = re.compile(r"\[\[([a-z0-9_]+)\]\]")


class ContentError(Exception):
    """The content files are inconsistent; raised at load time, never mid-conversation."""


class Severity(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank

    @staticmethod
    def highest(*levels: Severity) -> Severity:
        return max(levels, key=lambda level: level.rank, default=Severity.NORMAL)


_SEVERITY_RANK = {Severity.NORMAL: 0, Severity.HIGH: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True)
class Effect:
    """What one answer does to the case: severity, a reason, notices shown at once."""

    answer: str
    severity: Severity | None = None
    reason: str = ""
    notices: tuple[str, ...] = ()
    escalate: bool = False


@dataclass(frozen=True)
class Question:
    id: str
    kind: str  # "choice" or "text"
    answers: tuple[str, ...] = ()
    multi: bool = False
    optional: bool = False
    ask_if: tuple[str, ...] = ()
    effects: tuple[Effect, ...] = ()
    # A text answer must say something in words or with a currency, not a bare number.
    needs_words: bool = False

    def effects_of(self, answer: str) -> tuple[Effect, ...]:
        return tuple(effect for effect in self.effects if effect.answer == answer)

    def applies(self, tags: frozenset[str]) -> bool:
        return not self.ask_if or any(tag in tags for tag in self.ask_if)


@dataclass(frozen=True)
class Item:
    """One checklist item. Tags are `question:answer` strings derived from the case."""

    id: str
    step: int
    deadline: str = ""
    remind: str = "until_done"
    urgent: bool = False
    if_any: tuple[str, ...] = ()
    if_all: tuple[str, ...] = ()
    # Never with any of these tags: where another item stands in for this one (the
    # variant for young people of an item that would have them copy images).
    unless: tuple[str, ...] = ()
    first_if: tuple[str, ...] = ()
    cites: tuple[str, ...] = ()
    # A text the person can copy and send (item.<id>.draft), and the question whose
    # answer words it (its {where} is item.<id>.draft_where.<answer>), if any.
    draft: bool = False
    draft_by: str = ""
    support_lines: bool = False  # shown with the configured support lines
    # What the person types while this item is shown is kept as a /memo note.
    takes_notes: bool = False

    def applies(self, tags: frozenset[str]) -> bool:
        if self.if_any and not any(tag in tags for tag in self.if_any):
            return False
        if any(tag in tags for tag in self.unless):
            return False
        return all(tag in tags for tag in self.if_all)

    def comes_first(self, tags: frozenset[str]) -> bool:
        return any(tag in tags for tag in self.first_if)


@dataclass(frozen=True)
class Step:
    number: int
    id: str
    items: tuple[Item, ...]
    choose: str = ""
    recommend: Mapping[Severity, str] | None = None

    def checklist(self, tags: frozenset[str]) -> tuple[Item, ...]:
        """The items that apply to this case, those marked `first_if` moved to the front."""
        applicable = [item for item in self.items if item.applies(tags)]
        first = [item for item in applicable if item.comes_first(tags)]
        rest = [item for item in applicable if not item.comes_first(tags)]
        return tuple(first + rest)


@dataclass(frozen=True)
class Signal:
    """A danger signal noticed in free text, in any step and any language."""

    id: str
    severity: Severity
    phrases: tuple[str, ...]
    escalate: bool = True
    support_now: bool = False
    in_forwarded: bool = False  # also read in others' words the person forwards
    # A triage answer the signal records, as if tapped: (question id, answer).
    answers: tuple[str, str] | None = None
    # Case reasons that already say what the direct question would ask about.
    known_by: tuple[str, ...] = ()
    # Everyday idioms that hold a phrase and mean something else ("笑不活了", "career
    # suicide"): a phrase found only inside one of them is not a hit.
    idioms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    id: str
    source: str
    names: Mapping[str, str]


class Texts:
    """Words per locale, looked up by dotted key; `[[citation]]` tokens become law names."""

    def __init__(
        self, by_locale: Mapping[str, Mapping[str, str]], citations: Mapping[str, Citation]
    ):
        self._by_locale = by_locale
        self._citations = citations

    def keys(self, locale: str) -> frozenset[str]:
        return frozenset(self._by_locale[locale])

    def raw(self, locale: str, key: str) -> str:
        return self._by_locale[locale][key]

    def has(self, locale: str, key: str) -> bool:
        return key in self._by_locale.get(locale, {})

    def get(self, locale: str, key: str, /, **fields: object) -> str:
        template = self._by_locale[locale][key]
        text = _CITATION_TOKEN.sub(lambda m: self._citations[m.group(1)].names[locale], template)
        return text.format(**fields) if fields else text.replace("{{", "{").replace("}}", "}")


@dataclass(frozen=True)
class Playbook:
    questions: tuple[Question, ...]
    steps: tuple[Step, ...]
    signals: tuple[Signal, ...]
    citations: Mapping[str, Citation]
    texts: Texts
    # Case reasons that make every reminder of the case urgent: never held by quiet hours.
    urgent_reasons: frozenset[str] = frozenset()

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def step(self, number: int) -> Step:
        return self.steps[number - 1]

    @property
    def triage(self) -> tuple[Question, ...]:
        choosers = {step.choose for step in self.steps}
        return tuple(question for question in self.questions if question.id not in choosers)

    def item(self, item_id: str) -> Item:
        for step in self.steps:
            for item in step.items:
                if item.id == item_id:
                    return item
        raise KeyError(item_id)


def citation_tokens(text: str) -> list[str]:
    return _CITATION_TOKEN.findall(text)


def load_playbook(directory: Path = CONTENT_DIR) -> Playbook:
    structure = _read(directory / "playbook.toml")
    citations = _citations(_read(directory / "citations.toml"))
    texts = Texts(
        {locale: _flatten(_read(directory / f"{locale}.toml")) for locale in LOCALES}, citations
    )
    playbook = Playbook(
        questions=tuple(_question(raw) for raw in structure.get("questions", [])),
        steps=tuple(_step(raw) for raw in structure.get("steps", [])),
        signals=_signals(_read(directory / "signals.toml")),
        citations=citations,
        texts=texts,
        urgent_reasons=frozenset(structure.get("reminders", {}).get("urgent_reasons", ())),
    )
    _check_references(playbook)
    return playbook


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContentError(f"{path.name}: {exc}") from exc


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = str(value)
    return flat


def _question(raw: Mapping[str, Any]) -> Question:
    effects = tuple(
        Effect(
            answer=effect["answer"],
            severity=Severity(effect["severity"]) if "severity" in effect else None,
            reason=effect.get("reason", ""),
            notices=tuple(effect.get("notices", ())),
            escalate=bool(effect.get("escalate", False)),
        )
        for effect in raw.get("effects", [])
    )
    return Question(
        id=raw["id"],
        kind=raw.get("kind", "choice"),
        answers=tuple(raw.get("answers", ())),
        multi=bool(raw.get("multi", False)),
        optional=bool(raw.get("optional", False)),
        ask_if=tuple(raw.get("ask_if", ())),
        effects=effects,
        needs_words=bool(raw.get("needs_words", False)),
    )


def _step(raw: Mapping[str, Any]) -> Step:
    number = int(raw["number"])
    items = tuple(
        Item(
            id=item["id"],
            step=number,
            deadline=item.get("deadline", ""),
            remind=item.get("remind", "until_done"),
            urgent=bool(item.get("urgent", False)),
            if_any=tuple(item.get("if_any", ())),
            if_all=tuple(item.get("if_all", ())),
            unless=tuple(item.get("unless", ())),
            first_if=tuple(item.get("first_if", ())),
            cites=tuple(item.get("cites", ())),
            draft=bool(item.get("draft", False)) or "draft_by" in item,
            draft_by=item.get("draft_by", ""),
            support_lines=bool(item.get("support_lines", False)),
            takes_notes=bool(item.get("takes_notes", False)),
        )
        for item in raw.get("items", [])
    )
    recommend = raw.get("recommend")
    return Step(
        number=number,
        id=raw["id"],
        items=items,
        choose=raw.get("choose", ""),
        recommend={Severity(k): v for k, v in recommend.items()} if recommend else None,
    )


def _signals(raw: Mapping[str, Any]) -> tuple[Signal, ...]:
    return tuple(
        Signal(
            id=signal_id,
            severity=Severity(body["severity"]),
            phrases=tuple(body["phrases"]),
            escalate=bool(body.get("escalate", True)),
            support_now=bool(body.get("support_now", False)),
            in_forwarded=bool(body.get("in_forwarded", False)),
            answers=_question_answer(signal_id, body.get("answers", "")),
            known_by=tuple(body.get("known_by", ())),
            idioms=tuple(body.get("idioms", ())),
        )
        for signal_id, body in raw.items()
    )


def _question_answer(signal_id: str, text: str) -> tuple[str, str] | None:
    """ "minor=yes" → ("minor", "yes")."""
    if not text:
        return None
    question, equals, answer = text.partition("=")
    if not (equals and question and answer):
        raise ContentError(f'signal {signal_id}: answers must look like "question=answer"')
    return question, answer


def _citations(raw: Mapping[str, Any]) -> dict[str, Citation]:
    return {
        citation_id: Citation(
            id=citation_id,
            source=body["source"],
            names={locale: body[locale] for locale in LOCALES},
        )
        for citation_id, body in raw.items()
    }


def _check_references(playbook: Playbook) -> None:
    """Fail at start, not in front of a victim, when structure and texts disagree."""
    question_ids = {question.id for question in playbook.questions}
    for step in playbook.steps:
        if step.choose and step.choose not in question_ids:
            raise ContentError(f"step {step.number} chooses unknown question {step.choose!r}")
        for item in step.items:
            unknown = [c for c in item.cites if c not in playbook.citations]
            if unknown:
                raise ContentError(f"item {item.id} cites unknown {unknown}")
            if item.draft_by and item.draft_by not in question_ids:
                raise ContentError(f"item {item.id} drafts by unknown question {item.draft_by!r}")
            _check_deadline(item)
    for signal in playbook.signals:
        _check_signal(playbook, signal)
    unknown_reasons = playbook.urgent_reasons - _reasons(playbook)
    if unknown_reasons:
        raise ContentError(f"reminders.urgent_reasons: unknown {sorted(unknown_reasons)}")
    for locale in LOCALES:
        for key in playbook.texts.keys(locale):
            for token in citation_tokens(playbook.texts.raw(locale, key)):
                if token not in playbook.citations:
                    raise ContentError(f"{locale}.toml {key}: unknown citation [[{token}]]")


def _check_signal(playbook: Playbook, signal: Signal) -> None:
    if signal.answers is not None:
        question_id, answer = signal.answers
        known = {q.id: q.answers for q in playbook.questions}
        if answer not in known.get(question_id, ()):
            raise ContentError(f"signal {signal.id} answers unknown {question_id}={answer}")
    unknown = set(signal.known_by) - _reasons(playbook)
    if unknown:
        raise ContentError(f"signal {signal.id}: known_by names unknown reasons {sorted(unknown)}")


def _check_deadline(item: Item) -> None:
    if item.remind not in REMIND_MODES:
        raise ContentError(f"item {item.id}: remind must be one of {REMIND_MODES}")
    if item.deadline:
        try:
            parse_schedule(item.deadline)
        except ValueError as exc:
            raise ContentError(f"item {item.id}: deadline {exc}") from None


def _reasons(playbook: Playbook) -> set[str]:
    """Every reason a case can carry: from triage answers and from danger signals."""
    from_answers = {e.reason for q in playbook.questions for e in q.effects if e.reason}
    # "signal_" is bot.triage.SIGNAL_PREFIX; triage imports this module, not the reverse.
    return from_answers | {f"signal_{signal.id}" for signal in playbook.signals}
