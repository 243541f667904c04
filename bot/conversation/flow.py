"""The flow engine: interprets the playbook for one case, one input at a time.

It is pure: given a case record and what the victim did, it returns the next record and
the replies. Storage, delivery and escalation happen around it, in the dispatcher.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.content.playbook import LOCALES, Playbook, Question, Severity, Signal
from bot.content.prompts import CHECK_ANSWERS, Prompts, Reply
from bot.conversation.inputs import script_locale
from bot.conversation.signal_model import SignalModel
from bot.conversation.signals import Reading, SignalDetector
from bot.conversation.triage import (
    SIGNAL_PREFIX,
    escalating_reasons,
    merge_reasons,
    next_question,
    severity_of,
    tags,
)
from bot.events import Button, OutboundFile
from storage.cases import CaseRecord, ChecklistEntry

TEXT_ANSWER_LIMIT = 200
# Alert reasons that are events, not facts about the case: the staff hear of them, the
# case's severity does not change. A person was asked for; a direct question was
# declined ("I'd rather not say").
PERSON_REASON = "asked_for_person"
_NOT_WORDS = re.compile(r"[\s\W_]+")
DECLINED_PREFIX = "declined_"
UNSURE_PREFIX = "unsure_"
AFTER_NO_PREFIX = "after_no_"


@dataclass(frozen=True)
class Outcome:
    case: CaseRecord
    replies: tuple[Reply, ...]
    alert_reasons: tuple[str, ...] = ()
    # (reply index, item id): where the replies about each item end (see Turn.mark).
    marks: tuple[tuple[int, str], ...] = ()
    # Alerts about events the person was already told of (they asked for a person).
    event_alerts: tuple[str, ...] = ()

    @property
    def staff_reasons(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.alert_reasons, *self.event_alerts)))


class Turn:
    """The case as it changes during one input, and what to say back."""

    def __init__(self, case: CaseRecord, now: datetime) -> None:
        self.case = case
        self.now = now
        self.replies: list[Reply] = []
        self.marks: list[tuple[int, str]] = []
        self.alerts: list[str] = []

    def update(self, **changes: Any) -> None:
        self.case = replace(self.case, **changes)

    def say(
        self,
        text: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
        file: OutboundFile | None = None,
    ) -> None:
        self.replies.append(Reply(text, buttons, file))

    def alert(self, reason: str) -> None:
        """Tell the staff about ``reason`` now, whatever the case's severity: something
        went wrong that a person must look at (a ``reason.*`` text names it)."""
        if reason not in self.alerts:
            self.alerts.append(reason)

    def mark(self, item_id: str) -> None:
        """Note that what was said so far ends with an item shown or ticked off, so the
        reminder line about it can go right there."""
        self.marks.append((len(self.replies), item_id))


class Flow:
    def __init__(
        self,
        prompts: Prompts,
        threshold: Severity,
        model: SignalModel | None = None,
        *,
        ask_again_after: timedelta = timedelta(hours=24),
    ) -> None:
        self.prompts = prompts
        self.ask_again_after = ask_again_after
        self.playbook: Playbook = prompts.playbook
        self.jurisdiction = prompts.deployment.jurisdiction
        self.threshold = threshold
        self.detector = SignalDetector(self.playbook.signals, model)
        self._signals = {signal.id: signal for signal in self.playbook.signals}
        self._escalating = escalating_reasons(self.playbook)

    # ---- entry points -------------------------------------------------------------

    def begin(self, case: CaseRecord, now: datetime) -> Turn:
        turn = Turn(case, now)
        if case.asking and case.asking not in self._signals:
            turn.update(asking="")  # a signal the content no longer has
        self._reconcile(turn)
        return turn

    def _reconcile(self, turn: Turn) -> None:
        """Forget what the content no longer has (an item or question removed since)."""
        case = turn.case
        questions = {q.id for q in self.playbook.questions}
        items = {item.id for step in self.playbook.steps for item in step.items}
        answers = {q: a for q, a in case.answers.items() if q in questions}
        checklist = tuple(e for e in case.checklist if e.item_id in items)
        if (
            answers == dict(case.answers)
            and checklist == case.checklist
            and {
                case.question_id,
                case.changing,
            }
            <= questions | {""}
        ):
            return
        turn.update(
            answers=answers,
            checklist=checklist,
            changing=case.changing if case.changing in questions else "",
        )
        if case.phase == "triage" and case.question_id not in questions:
            following = next_question(self.playbook, answers, self.jurisdiction)
            if following is not None:
                turn.update(question_id=following.id)
            else:
                turn.update(phase="step", step=1, question_id="")
        self._refresh_checklist(turn)

    def finish(self, turn: Turn) -> Outcome:
        """Close a turn: decide which reasons the staff must now hear about."""
        case = turn.case
        fresh: tuple[str, ...] = ()
        if severity_of(self.playbook, case.reasons).at_least(self.threshold):
            fresh = tuple(
                r for r in case.reasons if r in self._escalating and r not in case.alerted_reasons
            )
        if fresh:
            turn.update(alerted_reasons=case.alerted_reasons + fresh)
        events = tuple(dict.fromkeys(turn.alerts))
        return Outcome(turn.case, tuple(turn.replies), fresh, tuple(turn.marks), events)

    def prompt(self, turn: Turn) -> None:
        """Show the current question or checklist item, with fresh buttons."""
        turn.update(prompt_seq=turn.case.prompt_seq + 1)
        case = turn.case
        if case.asking and case.phase != "closed":  # a direct question comes before all else
            turn.replies.append(self.prompts.signal_question(case, case.asking))
            return
        if case.phase == "language":
            turn.replies.append(self.prompts.language_choice(case.prompt_seq))
            return
        if case.phase == "privacy":
            turn.replies.append(self.prompts.privacy(case))
            return
        if case.phase == "closed" and case.status != "closed":
            label = self.prompts.t(case, "ui.btn_close_case")
            turn.say(
                self.prompts.t(case, "ui.case_open_done", case_no=case.id),
                ((Button(label, f"{case.prompt_seq}:close:"),),),
            )
            return
        if case.phase == "closed":
            turn.say(self._closed_text(case))
            return
        question = self.current_question(case)
        if question is not None:
            turn.replies.append(self._ask(case, question))
            return
        self._prompt_item(turn)

    def press(self, turn: Turn, data: str) -> None:
        seq, _, rest = data.partition(":")
        verb, _, arg = rest.partition(":")
        if verb == "sw" and arg in LOCALES:
            self.switch_language(turn, arg)
            return
        if verb == "person":  # honoured from any earlier message: a person asked for one
            self.ask_for_person(turn)
            return
        if seq != str(turn.case.prompt_seq) or not self._apply_press(turn, verb, arg):
            turn.say(self.prompts.t(turn.case, "ui.stale_button"))
            self.prompt(turn)

    def answers_while_paused(self, turn: Turn, data: str) -> bool:
        """A pause stops the checklist, not a direct question about a danger signal nor a
        request for a person."""
        _, _, rest = data.partition(":")
        verb = rest.partition(":")[0]
        return verb == "person" or (verb == "ck" and bool(turn.case.asking))

    def text(self, turn: Turn, text: str) -> None:
        asking = turn.case.asking
        typed = self.prompts.typed_check_answer(turn.case, text) if asking else None
        if typed is not None:
            self._answer_check(turn, asking, typed)
            return
        label = self._typed_button(turn.case, text)
        if label is not None:
            self.press(turn, label)
            return
        answers = turn.case.answers
        reading = self._notice(turn, text)
        if turn.case.asking and not any(s.support_now for s in reading.clear):
            if not (reading.clear or reading.uncertain):
                self._acknowledge(turn, text)  # the direct question still waits
            self.prompt(turn)
            return
        question = self.current_question(turn.case)
        if question is not None and question.kind == "text" and not turn.case.asking:
            if question.needs_words and not _has_words(text):
                turn.say(self.prompts.t(turn.case, f"question.{question.id}.needs_words"))
                self.prompt(turn)
                return
            self._record(turn, question, (text[:TEXT_ANSWER_LIMIT],))
            return
        if reading.clear:
            if turn.case.answers != answers:
                self.prompt(turn)  # a signal answered a question: where we are has moved
            return
        if turn.case.phase != "language":
            self._acknowledge(turn, text)
        self.prompt(turn)

    def _typed_button(self, case: CaseRecord, text: str) -> str | None:
        """The data of the current prompt's button whose words were typed ("Done",
        "做好了", "Skip for now"), as if it had been tapped; None if none match."""
        typed = button_words(text)
        if not typed:
            return None
        shown = Turn(case, case.updated_at)
        self.prompt(shown)  # the current prompt as it was last shown, built again
        for reply in shown.replies:
            for row in reply.buttons:
                for button in row:
                    if button_words(button.label) == typed:
                        _, _, rest = button.data.partition(":")
                        return f"{case.prompt_seq}:{rest}"
        return None

    def _acknowledge(self, turn: Turn, text: str) -> None:
        """Words where a button was expected: thanks, a person on offer, then (from the
        caller) the question again."""
        person = self.prompts.t(turn.case, "ui.btn_person")
        turn.say(
            self.prompts.t(turn.case, "ui.free_text_ack"),
            ((Button(person, f"{turn.case.prompt_seq}:person:"),),),
        )
        self._offer_language(turn, text)

    def ask_for_person(self, turn: Turn) -> None:
        turn.alert(PERSON_REASON)
        turn.say(self.prompts.t(turn.case, "ui.person_told"))
        self._carry_on(turn)

    def _carry_on(self, turn: Turn) -> None:
        """Where we were: the current prompt, or, in a paused case, that it is paused."""
        if turn.case.status == "paused":
            turn.say(self.prompts.t(turn.case, "ui.paused"))
            return
        self.prompt(turn)

    def notice_signals(self, turn: Turn, text: str) -> bool:
        """Danger signals raise severity and are answered at once, whatever the step; one
        the classifier is unsure of is asked about directly. True if anything was said."""
        reading = self._notice(turn, text)
        if turn.case.asking and reading.uncertain:
            self.prompt(turn)
        return bool(reading.clear or reading.uncertain)

    def _notice(self, turn: Turn, text: str) -> Reading:
        reading = self.detector.read(text)
        written = script_locale(text)
        if (reading.clear or reading.uncertain) and turn.case.phase == "language" and written:
            turn.update(locale=written)  # answer in their language before they choose one
        self._confirm(turn, reading.clear)
        if reading.clear:
            # A message already answered as a crisis is not also asked about: one question
            # on top of a crisis reply is one too many. The staff hear of it instead.
            for signal in self._not_known(turn.case, reading.uncertain):
                turn.alert(UNSURE_PREFIX + signal.id)
            return Reading(reading.clear)
        asked = self._ask_about(turn, reading.uncertain)
        return Reading(reading.clear, (asked,) if asked is not None else ())

    def _confirm(self, turn: Turn, signals: tuple[Signal, ...]) -> None:
        """Clear signals, or a Yes to the direct question: raised, recorded, answered."""
        for signal in signals:
            if turn.case.asking == signal.id:
                turn.update(asking="")
            if signal.answers is None:
                self._raise_for(turn, signal)
            # else the triage answer it records is the case's reason ("under 18": one
            # reason for staff to read, not that and "wrote about someone under 18")
            self._record_signal_answer(turn, signal)
        self._answer(turn, signals, "reply")

    def _ask_about(self, turn: Turn, uncertain: tuple[Signal, ...]) -> Signal | None:
        """The first uncertain signal the case does not know of yet becomes the question.
        One the person said no to lately is not asked again (that would say their answer
        was not heard): the staff are told instead."""
        if turn.case.asking:
            return None
        for signal in self._not_known(turn.case, uncertain):
            said_no = turn.case.said_no.get(signal.id)
            if said_no is not None and turn.now - said_no < self.ask_again_after:
                turn.alert(AFTER_NO_PREFIX + signal.id)
                continue
            turn.update(asking=signal.id)
            return signal
        return None

    @staticmethod
    def _not_known(case: CaseRecord, signals: tuple[Signal, ...]) -> tuple[Signal, ...]:
        """The signals the case does not know of yet (by their reason or a triage answer)."""
        return tuple(
            s for s in signals if {SIGNAL_PREFIX + s.id, *s.known_by}.isdisjoint(case.reasons)
        )

    def notice_for_person(self, turn: Turn, text: str) -> tuple[Signal, ...]:
        """While a person holds the conversation: a clear signal is answered at once as
        ever, but Haven does not put the direct question in the middle of their talk. The
        signals it is unsure of (and the case does not know of) are returned instead, for
        the person to ask about in their own words."""
        reading = self.detector.read(text)
        self._confirm(turn, reading.clear)
        return self._not_known(turn.case, reading.uncertain)

    def _answer_check(self, turn: Turn, signal_id: str, answer: str) -> None:
        signal = self._signals[signal_id]
        turn.update(asking="")
        if answer == "yes":
            self._confirm(turn, (signal,))
        elif answer == "no":
            turn.update(said_no={**turn.case.said_no, signal_id: turn.now})
            turn.say(self.prompts.t(turn.case, f"signal.{signal_id}.no"))
        else:
            turn.alert(DECLINED_PREFIX + signal_id)
            self._answer(turn, (signal,), "skip")
        if not signal.support_now or answer == "no":
            self._carry_on(turn)

    def _record_signal_answer(self, turn: Turn, signal: Signal) -> None:
        """The triage answer a signal stands for (a minor: "under 18? yes"), as if tapped;
        the triage moves past it and the checklist takes its variant."""
        if signal.answers is None:
            return
        question_id, answer = signal.answers
        case = turn.case
        if case.answers.get(question_id) == (answer,):
            return
        answers = {**case.answers, question_id: (answer,)}
        reasons = merge_reasons(self.playbook, answers, case.reasons)
        turn.update(answers=answers, reasons=reasons, severity=severity_of(self.playbook, reasons))
        if case.changing == question_id:
            turn.update(changing="")
        if case.phase == "triage" and case.question_id == question_id:
            following = next_question(self.playbook, answers, self.jurisdiction)
            if following is None:
                turn.update(phase="step", step=1, question_id="")
            else:
                turn.update(question_id=following.id)
        self._refresh_checklist(turn)

    def notice_forwarded_signals(self, turn: Turn, text: str) -> None:
        """Someone else's words, forwarded as evidence: a threat or demand against the
        person raises the case as their own words would, answered the first time only
        (a person forwarding twenty threats needs twenty receipts, not twenty warnings)."""
        clear = self.detector.read(text, forwarded=True).clear
        raised = tuple(signal for signal in clear if self._raise_for(turn, signal))
        self._answer(turn, raised, "forwarded_reply")

    def _raise_for(self, turn: Turn, signal: Signal) -> bool:
        """Add the signal's reason to the case; False if it was there already."""
        reason = SIGNAL_PREFIX + signal.id
        if reason in turn.case.reasons:
            return False
        reasons = (*turn.case.reasons, reason)
        turn.update(reasons=reasons, severity=severity_of(self.playbook, reasons))
        return True

    def _answer(self, turn: Turn, signals: tuple[Signal, ...], reply_key: str) -> None:
        """Each signal's reply, then the numbers to call once: a message that is both a
        cry for help and a demand gets both replies, not the same list twice."""
        if not signals:
            return
        replies = [self.prompts.t(turn.case, f"signal.{s.id}.{reply_key}") for s in signals]
        support = any(signal.support_now for signal in signals)
        turn.say("\n\n".join((*replies, self.prompts.contacts(turn.case, support=support))))

    def switch_language(self, turn: Turn, locale: str) -> None:
        turn.update(locale=locale)
        turn.say(self.prompts.t(turn.case, "ui.language_changed"))
        self.prompt(turn)

    def status(self, turn: Turn) -> None:
        case = turn.case
        title = self.prompts.t(case, f"step.{case.step}.title") if case.phase == "step" else None
        turn.update(prompt_seq=case.prompt_seq + 1)
        turn.replies.append(self.prompts.status(turn.case, title))

    def takes_notes(self, case: CaseRecord) -> bool:
        """The item shown asks the person to write things down: what they type is a note."""
        if case.status != "open" or case.asking or self.current_question(case) is not None:
            return False
        entry = self._current_entry(case)
        return entry is not None and self.playbook.item(entry.item_id).takes_notes

    def current_question(self, case: CaseRecord) -> Question | None:
        if case.changing:
            return self.playbook.question(case.changing)
        if case.phase == "triage" and case.question_id:
            return self.playbook.question(case.question_id)
        if case.phase == "step":
            step = self.playbook.step(case.step)
            if step.choose and step.choose not in case.answers:
                return self.playbook.question(step.choose)
        return None

    # ---- button presses -----------------------------------------------------------

    def _apply_press(self, turn: Turn, verb: str, arg: str) -> bool:
        """Carry out a press that belongs to the current prompt; False if it does not."""
        case = turn.case
        if verb == "lang" and case.phase == "language" and arg in LOCALES:
            turn.update(locale=arg, phase="privacy")
            self.prompt(turn)
            return True
        if verb == "ok" and case.phase == "privacy":
            self._begin_triage(turn)
            return True
        if verb == "chg" and case.answers and case.status != "closed":
            turn.update(prompt_seq=case.prompt_seq + 1)
            turn.replies.append(self.prompts.change_which(turn.case))
            return True
        if verb == "close" and case.phase == "closed" and case.status != "closed":
            turn.update(status="closed", closed_at=turn.now)
            self.prompt(turn)
            return True
        if verb == "chq":
            return self._change(turn, arg)
        if verb == "ck":
            return self._press_check(turn, arg)
        if verb == "i":
            return self._press_item(turn, arg)
        return self._press_answer(turn, verb, arg)

    def _press_answer(self, turn: Turn, verb: str, arg: str) -> bool:
        question = self.current_question(turn.case)
        qid, _, answer = arg.partition("=")
        if question is None or question.id != qid:
            return False
        if verb == "a" and answer in question.answers and not question.multi:
            self._record(turn, question, (answer,))
            return True
        if verb == "m" and answer in question.answers and question.multi:
            chosen = turn.case.pending_multi
            toggled = (
                tuple(a for a in chosen if a != answer) if answer in chosen else (*chosen, answer)
            )
            turn.update(pending_multi=tuple(a for a in question.answers if a in toggled))
            self.prompt(turn)
            return True
        if verb == "md" and question.multi:
            self._record(turn, question, turn.case.pending_multi)
            return True
        if verb == "sk" and question.optional:
            self._record(turn, question, ())
            return True
        return False

    def _press_check(self, turn: Turn, arg: str) -> bool:
        signal_id, _, answer = arg.partition("=")
        if signal_id != turn.case.asking or answer not in CHECK_ANSWERS:
            return False
        self._answer_check(turn, signal_id, answer)
        return True

    def _change(self, turn: Turn, question_id: str) -> bool:
        if question_id not in turn.case.answers or turn.case.status == "closed":
            return False
        question = self.playbook.question(question_id)
        pending = turn.case.answers[question_id] if question.multi else ()
        turn.update(changing=question_id, pending_multi=pending)
        self.prompt(turn)
        return True

    def _press_item(self, turn: Turn, arg: str) -> bool:
        item_id, _, action = arg.partition("=")
        current = self._current_entry(turn.case)
        if current is None or current.item_id != item_id:
            return False
        if action == "why":
            turn.say(self.prompts.t(turn.case, f"item.{item_id}.why"))
            return True
        item = self.playbook.item(item_id)
        if action == "draft" and item.draft:
            for part in self.prompts.draft_parts(turn.case, item):
                turn.replies.append(Reply(part, alone=True))  # each copied on its own
            return True
        if action not in ("done", "skip"):
            return False
        state = "done" if action == "done" else "skipped"
        self._set_item_state(turn, item_id, state)
        turn.say(self.prompts.t(turn.case, f"ui.item_{state}_ack"))
        turn.mark(item_id)
        self._advance(turn)
        return True

    # ---- triage -------------------------------------------------------------------

    def _begin_triage(self, turn: Turn) -> None:
        question = next_question(self.playbook, turn.case.answers, self.jurisdiction)
        if question is None:
            self._enter_step(turn, 1)
            return
        turn.update(phase="triage", question_id=question.id)
        turn.say(self.prompts.t(turn.case, "ui.triage_intro"))
        self.prompt(turn)

    def _record(self, turn: Turn, question: Question, chosen: tuple[str, ...]) -> None:
        answers = {**turn.case.answers, question.id: chosen}
        reasons = merge_reasons(self.playbook, answers, turn.case.reasons)
        turn.update(
            answers=answers,
            reasons=reasons,
            severity=severity_of(self.playbook, reasons),
            pending_multi=(),
        )
        self._show_notices(turn, question, chosen)
        if turn.case.changing:
            turn.update(changing="")
            self._refresh_checklist(turn)
            turn.say(self.prompts.t(turn.case, "ui.answer_changed"))
            self._advance(turn)
            return
        if turn.case.phase == "triage":
            self._next_triage_question(turn)
            return
        self._enter_step(turn, turn.case.step)

    def _show_notices(self, turn: Turn, question: Question, chosen: tuple[str, ...]) -> None:
        shown: set[str] = set()
        for answer in chosen:
            for effect in question.effects_of(answer):
                for notice in effect.notices:
                    if notice in shown:
                        continue
                    shown.add(notice)
                    text = self.prompts.t(turn.case, f"notice.{notice}")
                    if notice == "emergency":
                        text = f"{text}\n\n{self.prompts.contacts(turn.case, support=False)}"
                    turn.say(text)

    def _next_triage_question(self, turn: Turn) -> None:
        question = next_question(self.playbook, turn.case.answers, self.jurisdiction)
        if question is None:
            self._enter_step(turn, 1)
            return
        turn.update(question_id=question.id)
        self.prompt(turn)

    def _offer_language(self, turn: Turn, text: str) -> None:
        """Offered once a case: a victim who goes on writing in the other language after
        one offer has answered it, and asking after every message would nag."""
        written = script_locale(text)
        if written is None or written in (turn.case.locale, turn.case.language_offered):
            return
        turn.update(language_offered=written)
        language = self.playbook.texts.get(written, "meta.language_name")
        label = self.prompts.t(turn.case, "ui.btn_switch_language", language=language)
        turn.say(
            self.prompts.t(turn.case, "ui.other_language", language=language),
            ((Button(label, f"{turn.case.prompt_seq}:sw:{written}"),),),
        )

    # ---- steps and checklists -----------------------------------------------------

    def _enter_step(self, turn: Turn, number: int) -> None:
        turn.update(phase="step", step=number, question_id="")
        self._refresh_checklist(turn)
        self._advance(turn)

    def _case_tags(self, case: CaseRecord) -> frozenset[str]:
        return tags(case.answers, self.jurisdiction, Severity(case.severity))

    def _refresh_checklist(self, turn: Turn) -> None:
        """Lay out the current step's items for this case, keeping what was already done."""
        case = turn.case
        if case.phase != "step":
            return
        step = self.playbook.step(case.step)
        if step.choose and step.choose not in case.answers:
            return
        others = [e for e in case.checklist if e.step != step.number]
        old = {e.item_id: e for e in case.checklist if e.step == step.number}
        wanted = [item.id for item in step.checklist(self._case_tags(case))]
        kept_history = [i for i, e in old.items() if i not in wanted and e.state != "pending"]
        entries = [
            ChecklistEntry(
                item_id, step.number, position, old[item_id].state if item_id in old else "pending"
            )
            for position, item_id in enumerate(wanted + kept_history, start=1)
        ]
        turn.update(checklist=tuple(others + entries))

    def _current_entry(self, case: CaseRecord) -> ChecklistEntry | None:
        if case.phase != "step":
            return None
        return next(
            (e for e in case.checklist if e.step == case.step and e.state == "pending"), None
        )

    def _set_item_state(self, turn: Turn, item_id: str, state: str) -> None:
        turn.update(
            checklist=tuple(
                replace(e, state=state) if e.item_id == item_id else e for e in turn.case.checklist
            )
        )

    def _advance(self, turn: Turn) -> None:
        """Show the next open item, or finish the step and move on."""
        case = turn.case
        if case.phase != "step" or self.current_question(case) is not None:
            self.prompt(turn)
            return
        if self._current_entry(case) is not None:
            self.prompt(turn)
            return
        turn.say(self.prompts.t(case, "ui.step_complete", number=case.step))
        if case.step < len(self.playbook.steps):
            self._enter_step(turn, case.step + 1)
            return
        turn.update(status="closed", phase="closed", closed_at=turn.now)
        self.prompt(turn)

    def _prompt_item(self, turn: Turn) -> None:
        case = turn.case
        entry = self._current_entry(case)
        if entry is None:
            turn.say(self._closed_text(case))
            return
        current = [e for e in case.checklist if e.step == case.step]
        item = self.playbook.item(entry.item_id)
        position = current.index(entry) + 1
        with_intro = position == 1 and not self.playbook.step(case.step).choose
        reply = self.prompts.item(case, item, position, len(current), with_intro=with_intro)
        turn.replies.append(reply)
        turn.mark(item.id)

    def _ask(self, case: CaseRecord, question: Question) -> Reply:
        step = self.playbook.step(case.step) if case.phase == "step" else None
        if step is None or step.choose != question.id or case.changing:
            return self.prompts.question(case, question)
        recommend = step.recommend or {}
        recommended = recommend.get(Severity(case.severity), question.answers[0])
        return self.prompts.path_choice(case, question, recommended)

    def _closed_text(self, case: CaseRecord) -> str:
        return self.prompts.t(
            case, "ui.case_closed", retention_days=self.prompts.deployment.retention_days
        )


def _has_words(text: str) -> bool:
    """Letters (any script) or a currency sign: "5000元", "¥5000", "more photos", not "2"."""
    return any(ch.isalpha() or unicodedata.category(ch) == "Sc" for ch in text)


def button_words(text: str) -> str:
    """A label or typed line without spaces, punctuation, emoji or case."""
    return _NOT_WORDS.sub("", text).casefold()
