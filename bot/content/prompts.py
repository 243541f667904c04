"""What the victim sees for each state of a case: texts and buttons, in the case's locale."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.content import phone
from bot.content.playbook import LOCALES, Item, Playbook, Question, Severity
from bot.events import Button, OutboundFile
from storage.cases import CaseRecord

DURATION_UNITS = ("wd", "m", "h", "d")
# The direct question's answers, as button data (bot.conversation.flow reads them back).
CHECK_ANSWERS = ("yes", "no", "skip")
# Spacing and punctuation around a typed answer ("No.", " 没有！").
_TYPED_NOISE = re.compile(r"[\s\W_]+")
_MARKS = {"done": "✅", "skipped": "⏭", "pending": "▫️"}


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    file: OutboundFile | None = None
    # A message of its own, never joined with another: a text to copy (a letter).
    alone: bool = False


_FENCE = "————"  # around a text to copy, in item.<id>.draft


def joined(replies: Sequence[Reply]) -> list[Reply]:
    """One turn's replies as the fewest messages a phone shows without scrolling: text on
    its own rides with the reply after it, so tapping "done" buzzes the victim's phone
    once, not twice, unless together they would not fit a screen; a longer text is cut
    between paragraphs (its buttons go with the last part). A file keeps its own message
    (its text is its caption), and so does a text to copy."""
    messages: list[Reply] = []
    for reply in _fitted(replies):
        last = messages[-1] if messages else None
        if (
            last is None
            or last.buttons
            or last.file is not None
            or last.alone
            or reply.file is not None
            or reply.alone
            or not phone.fits(f"{last.text}\n\n{reply.text}")
        ):
            messages.append(reply)
            continue
        messages[-1] = Reply(f"{last.text}\n\n{reply.text}", reply.buttons)
    return messages


def _fitted(replies: Sequence[Reply]) -> list[Reply]:
    fitted: list[Reply] = []
    for reply in replies:
        if reply.file is not None or reply.alone or phone.fits(reply.text):
            fitted.append(reply)
            continue
        *first, last = phone.screenfuls(reply.text)
        fitted.extend(Reply(part) for part in first)
        fitted.append(Reply(last, reply.buttons))
    return fitted


@dataclass(frozen=True)
class Deployment:
    """The deployment facts that change what the victim reads."""

    jurisdiction: str
    retention_days: int
    emergency_lines: tuple[str, ...]
    hotline_lines: tuple[str, ...]

    @property
    def in_mainland_china(self) -> bool:
        return self.jurisdiction == "CN"


class Prompts:
    def __init__(self, playbook: Playbook, deployment: Deployment) -> None:
        self.playbook = playbook
        self.texts = playbook.texts
        self.deployment = deployment

    def t(self, case: CaseRecord, key: str, **fields: object) -> str:
        return self.texts.get(case.locale, key, **fields)

    def language_choice(self, seq: int) -> Reply:
        text = "\n".join(self.texts.get(locale, "ui.choose_language") for locale in LOCALES)
        buttons = tuple(
            (Button(self.texts.get(locale, "meta.language_name"), f"{seq}:lang:{locale}"),)
            for locale in LOCALES
        )
        return Reply(text, buttons)

    def privacy(self, case: CaseRecord) -> Reply:
        text = "\n\n".join(
            (
                self.t(case, "ui.welcome"),
                self.t(case, "ui.privacy_notice", retention_days=self.deployment.retention_days),
            )
        )
        ok = Button(self.t(case, "ui.btn_privacy_ok"), f"{case.prompt_seq}:ok:")
        return Reply(text, ((ok,),))

    def question(self, case: CaseRecord, question: Question, intro: str = "") -> Reply:
        seq = case.prompt_seq
        lines = [intro] if intro else []
        lines.append(self.t(case, f"question.{question.id}.prompt"))
        if question.kind == "text":
            lines.append(self.t(case, "ui.text_question_hint"))
        if question.multi:
            lines.append(self.t(case, "ui.multi_hint"))
        rows = [self._answer_button(case, question, answer, seq) for answer in question.answers]
        if question.multi:
            rows.append((Button(self.t(case, "ui.btn_multi_done"), f"{seq}:md:{question.id}"),))
        if question.optional:
            rows.append((Button(self.t(case, "ui.btn_skip_question"), f"{seq}:sk:{question.id}"),))
        return Reply("\n\n".join(lines), tuple(rows))

    def _answer_button(
        self, case: CaseRecord, question: Question, answer: str, seq: int
    ) -> tuple[Button, ...]:
        label = self.answer_label(case, question.id, answer)
        if question.multi:
            ticked = answer in case.pending_multi
            return (Button(("✓ " if ticked else "") + label, f"{seq}:m:{question.id}={answer}"),)
        return (Button(label, f"{seq}:a:{question.id}={answer}"),)

    def answer_label(self, case: CaseRecord, question_id: str, answer: str) -> str:
        return self.t(case, f"question.{question_id}.answer.{answer}")

    def path_choice(self, case: CaseRecord, question: Question, recommended: str) -> Reply:
        intro = "\n\n".join(
            (
                self.step_intro(case, 2),
                self.t(
                    case,
                    "ui.path_recommended",
                    path=self.answer_label(case, question.id, recommended),
                ),
                self.legal_disclaimer(case),
            )
        )
        reply = self.question(case, question, intro)
        marked = tuple(
            tuple(
                Button(("★ " if b.data.endswith(f"={recommended}") else "") + b.label, b.data)
                for b in row
            )
            for row in reply.buttons
        )
        return Reply(reply.text, marked)

    def step_intro(self, case: CaseRecord, number: int) -> str:
        title = self.t(case, f"step.{number}.title")
        header = self.t(case, "ui.step_header", number=number, title=title)
        return f"{header}\n{self.t(case, f'step.{number}.intro')}"

    def item(
        self, case: CaseRecord, item: Item, position: int, total: int, *, with_intro: bool
    ) -> Reply:
        seq = case.prompt_seq
        title = self.t(case, f"item.{item.id}.title")
        parts = []
        if with_intro:
            parts.append(self.step_intro(case, item.step))
        header = self.t(case, "ui.item_header", position=position, total=total, title=title)
        if item.deadline:  # under the title: a long item is cut after it, not before
            duration = self.duration(case, item.deadline.split(",")[0])
            header += "\n" + self.t(case, "ui.item_deadline", duration=duration)
        parts.append(header)
        parts.append(self.item_body(case, item))
        if item.support_lines and self.deployment.hotline_lines:
            parts.append(
                "\n".join((self.t(case, "ui.support_header"), *self.deployment.hotline_lines))
            )
        if item.step == 2 and with_intro:  # else said once, with the choice of path
            parts.append(self.legal_disclaimer(case))
        more = [Button(self.t(case, "ui.btn_why"), f"{seq}:i:{item.id}=why")]
        if item.draft:
            more.insert(0, Button(self.t(case, "ui.btn_draft"), f"{seq}:i:{item.id}=draft"))
        buttons = (
            (
                Button(self.t(case, "ui.btn_done"), f"{seq}:i:{item.id}=done"),
                Button(self.t(case, "ui.btn_skip"), f"{seq}:i:{item.id}=skip"),
            ),
            tuple(more),
        )
        return Reply("\n\n".join(parts), buttons)

    def draft(self, case: CaseRecord, item: Item) -> str:
        """The item's text to copy, worded by the person's own answer where it has a
        `draft_by` question (the wording for "unknown" while that is unanswered)."""
        key = f"item.{item.id}.draft"
        if not item.draft_by:
            return self.t(case, key)
        answer = (case.answers.get(item.draft_by) or ("unknown",))[0]
        return self.t(case, key, where=self.t(case, f"{key}_where.{answer}"))

    def draft_parts(self, case: CaseRecord, item: Item) -> tuple[str, ...]:
        """The draft as messages of their own: the note on how to use it, then each text
        between ———— fences (a letter to family, one to an employer…), so each can be
        copied whole."""
        parts: list[str] = []
        inside = False
        for block in self.draft(case, item).split("\n\n"):
            if inside:
                parts[-1] += "\n\n" + block
            else:
                parts.append(block)
            fences = sum(1 for line in block.split("\n") if line.strip() == _FENCE)
            inside ^= fences % 2 == 1
        return tuple(parts)

    def item_body(self, case: CaseRecord, item: Item) -> str:
        general = f"item.{item.id}.body_general"
        if not self.deployment.in_mainland_china and self.texts.has(case.locale, general):
            return self.t(case, general)
        return self.t(case, f"item.{item.id}.body")

    def legal_disclaimer(self, case: CaseRecord) -> str:
        if self.deployment.in_mainland_china:
            return self.t(case, "ui.not_legal_advice")
        return self.t(case, "ui.not_legal_advice_general")

    def duration(self, case: CaseRecord, spec: str) -> str:
        for unit in DURATION_UNITS:
            if spec.endswith(unit):
                return self.t(case, f"ui.duration_{unit}", n=int(spec[: -len(unit)]))
        raise ValueError(f"bad duration {spec!r}")

    def contacts(self, case: CaseRecord, *, support: bool) -> str:
        """Emergency numbers always; the configured support lines when asked for."""
        lines = [self.t(case, "ui.emergency_header"), *self.deployment.emergency_lines]
        if support:
            lines.append(self.t(case, "ui.support_header"))
            lines.extend(self.deployment.hotline_lines or [self.t(case, "ui.no_hotlines")])
        return "\n".join(lines)

    def status(self, case: CaseRecord, step_title: str | None) -> Reply:
        severity = self.t(case, f"severity.{case.severity}")
        lines = [self.t(case, "ui.status_header", case_id=case.id, severity=severity)]
        lines.append(self._phase_line(case, step_title))
        if case.status == "paused":
            lines.append(self.t(case, "ui.status_paused"))
        if case.reasons:
            lines.append(self.t(case, "ui.status_reasons_header"))
            lines.extend(f"• {self.t(case, f'reason.{r}')}" for r in case.reasons)
        lines.extend(self._answer_lines(case))
        lines.extend(self._checklist_lines(case))
        buttons: tuple[tuple[Button, ...], ...] = ()
        if case.answers and case.status != "closed":
            change = Button(self.t(case, "ui.btn_change_answer"), f"{case.prompt_seq}:chg:")
            buttons = ((change,),)
        return Reply("\n".join(lines), buttons)

    def _phase_line(self, case: CaseRecord, step_title: str | None) -> str:
        if case.phase == "closed":
            return self.t(case, "ui.status_phase_closed")
        if case.phase == "step" and step_title is not None:
            return self.t(case, "ui.status_phase_step", number=case.step, title=step_title)
        return self.t(case, "ui.status_phase_triage")

    def _answer_lines(self, case: CaseRecord) -> list[str]:
        if not case.answers:
            return []
        lines = ["", self.t(case, "ui.status_answers_header")]
        for question in self.playbook.questions:
            chosen = case.answers.get(question.id)
            if chosen is None:
                continue
            prompt = self.t(case, f"question.{question.id}.short")
            if question.kind == "text":
                shown = chosen[0] if chosen else "—"
            else:
                separator = "、" if case.locale == "zh-CN" else ", "
                labels = (self.answer_label(case, question.id, a) for a in chosen)
                shown = separator.join(labels) or "—"
            lines.append(f"• {prompt} → {shown}")
        return lines

    def _checklist_lines(self, case: CaseRecord) -> list[str]:
        current = [entry for entry in case.checklist if entry.step == case.step]
        if not current:
            return []
        lines = [""]
        for entry in current:
            title = self.t(case, f"item.{entry.item_id}.title")
            lines.append(f"{_MARKS.get(entry.state, '•')} {title}")
        return lines

    def signal_question(self, case: CaseRecord, signal_id: str) -> Reply:
        """The direct question about a danger signal, with Yes / No / I'd rather not say."""
        seq = case.prompt_seq
        buttons = tuple(
            (Button(self.t(case, f"ui.btn_check_{answer}"), f"{seq}:ck:{signal_id}={answer}"),)
            for answer in CHECK_ANSWERS
        )
        return Reply(self.t(case, f"signal.{signal_id}.ask"), buttons)

    def locale_named(self, words: str) -> str | None:
        """The locale `/lang` names: its code ("en", "zh-CN", "zh"), or its name in
        either language ("English", "中文", "英文")."""
        typed = _TYPED_NOISE.sub("", words).casefold()
        for locale in LOCALES:
            names = {locale, locale.split("-")[0], self.texts.get(locale, "meta.language_name")}
            names.update(
                self.texts.get(other, "meta.language_names")
                .replace("、", ",")
                .split(",")[LOCALES.index(locale)]
                for other in LOCALES
            )
            if typed in {_TYPED_NOISE.sub("", n).casefold() for n in names}:
                return locale
        return None

    def typed_check_answer(self, case: CaseRecord, text: str) -> str | None:
        """The direct question's answer when typed instead of tapped ("yes", "没有", "不想说"),
        in either language; None for anything else."""
        typed = _TYPED_NOISE.sub("", text).casefold()
        for answer in CHECK_ANSWERS:
            for locale in LOCALES:
                words = self.texts.get(locale, f"ui.typed_check_{answer}")
                label = self.texts.get(locale, f"ui.btn_check_{answer}")
                wanted = {_TYPED_NOISE.sub("", w).casefold() for w in (*words.split(","), label)}
                if typed in wanted - {""}:
                    return answer
        return None

    def change_which(self, case: CaseRecord) -> Reply:
        rows = tuple(
            (Button(self.t(case, f"question.{q.id}.short"), f"{case.prompt_seq}:chq:{q.id}"),)
            for q in self.playbook.questions
            if q.id in case.answers
        )
        return Reply(self.t(case, "ui.change_which"), rows)

    def severity_label(self, case: CaseRecord, severity: Severity) -> str:
        return self.t(case, f"severity.{severity}")
