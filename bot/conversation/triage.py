"""Severity, reasons and tags: what the answers and danger signals say about a case."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.content.playbook import Playbook, Question, Severity

SIGNAL_PREFIX = "signal_"


def tags(
    answers: Mapping[str, tuple[str, ...]], jurisdiction: str, severity: Severity
) -> frozenset[str]:
    """`question:answer` for every answer, plus the severity and the deployment's jurisdiction."""
    found = {f"{qid}:{answer}" for qid, chosen in answers.items() for answer in chosen}
    found.add(f"severity:{severity}")
    found.add(f"jurisdiction:{jurisdiction}")
    return frozenset(found)


def reasons_from_answers(playbook: Playbook, answers: Mapping[str, tuple[str, ...]]) -> list[str]:
    reasons: list[str] = []
    for question in playbook.questions:
        for answer in answers.get(question.id, ()):
            reasons.extend(e.reason for e in question.effects_of(answer) if e.reason)
    return reasons


def merge_reasons(
    playbook: Playbook, answers: Mapping[str, tuple[str, ...]], previous: Iterable[str]
) -> tuple[str, ...]:
    """Answer reasons follow the current answers; signal reasons, once seen, stay."""
    kept_signals = [reason for reason in previous if reason.startswith(SIGNAL_PREFIX)]
    return tuple(dict.fromkeys(reasons_from_answers(playbook, answers) + kept_signals))


def severity_of(playbook: Playbook, reasons: Iterable[str]) -> Severity:
    levels = reason_severities(playbook)
    return Severity.highest(*(levels[r] for r in reasons if r in levels))


def reason_severities(playbook: Playbook) -> dict[str, Severity]:
    levels: dict[str, Severity] = {}
    for question in playbook.questions:
        for effect in question.effects:
            if effect.reason and effect.severity is not None:
                levels[effect.reason] = effect.severity
    for signal in playbook.signals:
        levels[SIGNAL_PREFIX + signal.id] = signal.severity
    return levels


def escalating_reasons(playbook: Playbook) -> frozenset[str]:
    flagged = {
        effect.reason
        for question in playbook.questions
        for effect in question.effects
        if effect.escalate and effect.reason
    }
    flagged.update(SIGNAL_PREFIX + signal.id for signal in playbook.signals if signal.escalate)
    return frozenset(flagged)


def next_question(
    playbook: Playbook, answers: Mapping[str, tuple[str, ...]], jurisdiction: str
) -> Question | None:
    """The first triage question that applies and has no answer yet."""
    current = tags(answers, jurisdiction, Severity.NORMAL)
    for question in playbook.triage:
        if question.id not in answers and question.applies(current):
            return question
    return None
