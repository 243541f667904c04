"""Identity → case → dispatch by kind; every reply goes to the outbox in the same transaction.

The dispatcher is the one place where an inbound event meets storage: it finds or opens
the victim's case, lets the flow engine decide, and writes the new case state together
with the outbound messages, so a crash can lose neither without the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.content.prompts import Reply, joined
from bot.conversation.desk_answer import DeskAnswer
from bot.conversation.evidence_pace import EvidencePace
from bot.conversation.flood import FloodGuard, Verdict
from bot.conversation.flow import Flow, Outcome, Turn
from bot.conversation.inbound_log import already_seen, forget_journaled, record_inbound
from bot.conversation.inputs import clean_text
from bot.delivery.outbox import queue_replies, queue_reply
from bot.events import Button, ChatKind, Identity, Inbound, InboundKind, OriginKind
from bot.evidence.erase_desk import EraseDesk
from bot.evidence.export_desk import ExportDesk
from bot.evidence.handover_desk import Prepared
from bot.evidence.intake import Evidence, Received, Refused
from bot.evidence.receipts import details_asked
from bot.evidence.report_desk import ReportDesk
from bot.evidence.timeline import CHAT_LIMIT
from bot.evidence.vetting import Contradicted
from bot.reminders.desk import ReminderDesk
from bot.search.desk import Found, SearchDesk
from bot.search.memo_desk import MemoDesk
from bot.staff.escalation import Escalator
from bot.staff.progress_notes import ProgressNotes
from bot.staff.talk import END_TALK, Talks
from bot.staff.unanswered import UnansweredQuestions
from storage import cases
from storage.cases import CaseRecord
from storage.coordination import Scope, serialise
from storage.database import Database
from storage.talks import TalkRow

log = logging.getLogger(__name__)

CASE_COMMANDS = (
    "start",
    "status",
    "help",
    "lang",
    "stop",
    "evidence",
    "memo",
    "timeline",
    "search",
    "export",
    "report",
    "erase",
)
EVIDENCE_KINDS = (InboundKind.FORWARD, InboundKind.ATTACHMENT)
NEW_CASE = "newcase:"  # + the case taken up again, which the press closes


@dataclass(frozen=True)
class DispatchSettings:
    default_locale: str
    max_text_chars: int


@dataclass(frozen=True)
class Groundwork:
    """What an event needed done before its turn: items fetched, a bundle written, a
    search run, an erasure carried out (see `Dispatcher._groundwork`)."""

    received: tuple[Received | Refused, ...] = ()
    contradicted: Contradicted | None = None
    exported: Prepared | None = None
    found: Found | None = None
    erasure: DeskAnswer | None = None
    reported: Prepared | None = None


class StaffHandler(Protocol):
    async def handle(self, inbound: Inbound) -> None: ...

    def is_member(self, identity: Identity) -> bool:
        """Someone on the staff: their private chat with Haven is a staff chat."""


class Dispatcher:
    def __init__(
        self,
        db: Database,
        flow: Flow,
        clock: Clock,
        settings: DispatchSettings,
        flood: FloodGuard,
        evidence: Evidence,
        reminders: ReminderDesk,
        exports: ExportDesk,
        erasures: EraseDesk,
        memos: MemoDesk,
        searches: SearchDesk,
        escalator: Escalator,
        staff: StaffHandler,
        progress: ProgressNotes,
        reports: ReportDesk,
        talks: Talks,
        unanswered: UnansweredQuestions,
        pace: EvidencePace,
        on_outbox: Callable[[], None] = lambda: None,
        on_reminders: Callable[[Iterable[datetime]], None] = lambda _: None,
    ) -> None:
        self.db = db
        self.flow = flow
        self.prompts = flow.prompts
        self.clock = clock
        self.settings = settings
        self.flood = flood
        self.evidence = evidence
        self.reminders = reminders
        self.exports = exports
        self.erasures = erasures
        self.memos = memos
        self.searches = searches
        self.escalator = escalator
        self.staff = staff
        self.progress = progress
        self.reports = reports
        self.talks = talks
        self.unanswered = unanswered
        self.pace = pace
        self._on_outbox = on_outbox
        self._on_reminders = on_reminders

    async def handle(self, inbound: Inbound) -> None:
        """Take one inbound event to the end: state saved, replies queued."""
        if inbound.chat.kind is ChatKind.STAFF or (
            inbound.chat.kind is ChatKind.PRIVATE and self.staff.is_member(inbound.identity)
        ):
            await self.staff.handle(inbound)
            await self._forget_journaled(inbound)
            return
        if inbound.chat.kind is not ChatKind.PRIVATE:
            log.info("ignored %s from a %s chat", inbound.kind, inbound.chat.kind)
            return
        sender = f"{inbound.identity.platform}:{inbound.identity.user_id}"
        if inbound.kind in EVIDENCE_KINDS:
            # Evidence is never dropped for coming fast: it waits for its own budget.
            await self._pace(sender, inbound)
            verdict = Verdict.ALLOW
        else:
            verdict = self.flood.check(sender)
        if verdict is Verdict.DROP:
            log.warning("flood: dropped a %s from one sender", inbound.kind)
            return
        now = self.clock.now()
        work = Groundwork() if verdict is Verdict.WARN else await self._groundwork(inbound)
        async with self.db.transaction() as conn:
            # With several instances (PostgreSQL), one person's turns take turns: a
            # redelivery waits for the first delivery's turn, then finds it seen.
            who = inbound.identity
            await serialise(conn, Scope.PERSON, f"{who.platform}:{who.user_id}")
            if await already_seen(conn, inbound):
                log.info("duplicate delivery of message %s ignored", inbound.message_id)
                await forget_journaled(conn, inbound)
                return
            # Reminder buttons, /reminders, /quiet and /updates concern the person, not one case.
            routed = (
                inbound
                if verdict is Verdict.WARN
                else work.erasure or await self.reminders.route(conn, inbound, now)
            )
            if isinstance(routed, Inbound):
                routed = await self.progress.route(conn, routed, now)
            if isinstance(routed, DeskAnswer):
                await self._persist_answer(conn, inbound, routed, now)
                armed = routed.armed
            else:
                before, is_new = await self._open(conn, routed, now)
                turn = self.flow.begin(before, now)
                if before.status == "closed":
                    self._take_up_again(turn)
                waits: tuple[datetime, ...] = ()
                if verdict is Verdict.WARN:
                    turn.say(self.prompts.t(turn.case, "ui.flood"))
                else:
                    waits = await self._route(conn, turn, routed, work, is_new=is_new)
                outcome = self.flow.finish(turn)
                armed = (*await self._persist(conn, routed, before, outcome, now), *waits)
        self._on_outbox()
        self._on_reminders(armed)

    async def _forget_journaled(self, inbound: Inbound) -> None:
        """Evidence a staff member sent was journaled like a victim's; it is handled."""
        if inbound.kind in EVIDENCE_KINDS:
            async with self.db.transaction() as conn:
                await forget_journaled(conn, inbound)

    async def _pace(self, sender: str, inbound: Inbound) -> None:
        """Wait while the sender is over their evidence budget, telling them (now, not
        after the wait) that everything is kept and receipts will come more slowly."""
        size = _declared_size(inbound)
        wait = self.pace.reserve(sender, size)
        if wait == 0:
            return
        log.info("evidence paced: a %s waits %.1f s for its sender's budget", inbound.kind, wait)
        if self.pace.should_tell(sender):
            await self._tell_paced(inbound)
        await self.pace.admit(sender, size)

    async def _tell_paced(self, inbound: Inbound) -> None:
        now = self.clock.now()
        who = inbound.identity
        async with self.db.transaction() as conn:
            case = await cases.find_current(conn, who.platform, who.user_id)
            locale = case.locale if case is not None else self.settings.default_locale
            text = self.prompts.texts.get(locale, "ui.evidence_paced")
            await queue_reply(conn, inbound.chat, Reply(text), case.id if case else None, now)
        self._on_outbox()

    async def _groundwork(self, inbound: Inbound) -> Groundwork:
        """What must happen before the write lock is taken: downloads and hashing (see
        bot/evidence/intake.py), and the commands that run transactions of their own."""
        logged = any(_is_command(inbound, name) for name in ("export", "search", "report"))
        # A redelivery: no second bundle or custody event, and no second download (Telegram
        # sends again what was not confirmed before a stop).
        if (logged or inbound.kind in EVIDENCE_KINDS) and await self._seen(inbound):
            return Groundwork()
        received: tuple[Received | Refused, ...] = ()
        if inbound.kind in EVIDENCE_KINDS:
            received = await self.evidence.receive(inbound)
        contradicted = None
        if _is_command(inbound, "evidence"):
            contradicted = await self.evidence.vet_listing(inbound)
        elif _is_command(inbound, "timeline"):
            contradicted = await self.evidence.vet_timeline(inbound, CHAT_LIMIT)
        exported = await self.exports.prepare(inbound) if _is_command(inbound, "export") else None
        found = await self.searches.prepare(inbound) if _is_command(inbound, "search") else None
        erasure = await self.erasures.answer(inbound)
        reported = await self.reports.prepare(inbound) if _is_command(inbound, "report") else None
        return Groundwork(received, contradicted, exported, found, erasure, reported)

    async def _seen(self, inbound: Inbound) -> bool:
        async with self.db.autocommit() as conn:
            return await already_seen(conn, inbound)

    async def _open(
        self, conn: AsyncConnection, inbound: Inbound, now: datetime
    ) -> tuple[CaseRecord, bool]:
        """The victim's current case (open, or closed and not erased), or a new one; True
        when it was just opened. "Start a new case" on a case taken up again closes it
        and opens a new one."""
        identity = inbound.identity
        found = await cases.find_current(conn, identity.platform, identity.user_id)
        if found is not None and not _starts_new_case(inbound, found):
            return found, False
        if found is not None:
            closed = replace(found, status="closed", closed_at=found.closed_at or now)
            await cases.save(conn, found, closed, now)
            log.info("case %s closed for a new one", found.id)
        locale = await cases.last_locale(conn, identity.platform, identity.user_id)
        created = await cases.create(
            conn,
            platform=identity.platform,
            user_id=identity.user_id,
            chat_id=inbound.chat.chat_id,
            locale=locale or self.settings.default_locale,
            now=now,
        )
        log.info("opened case %s", created.id)
        return created, True

    async def _persist(
        self,
        conn: AsyncConnection,
        inbound: Inbound,
        before: CaseRecord,
        outcome: Outcome,
        now: datetime,
    ) -> tuple[datetime, ...]:
        """Save the turn; return the times of the reminders it set, for the timer."""
        case = outcome.case
        await cases.save(conn, before, case, now)
        planned = await self.reminders.plan_turn(conn, before, outcome, now)
        await record_inbound(conn, inbound, case.id, now)
        if case.status == "closed" and before.status != "closed":
            await self.escalator.victim_closed(conn, case, now)
        replies = list(planned.replies)
        raised = None
        if outcome.staff_reasons:
            raised = await self.escalator.raise_for(conn, case, outcome.staff_reasons, now)
            # Event alerts (a person asked for) were answered by the flow itself.
            if raised.tell_victim and outcome.alert_reasons:
                replies.append(Reply(self.prompts.t(case, "ui.escalated")))
        await queue_replies(conn, inbound.chat, joined(replies), case.id, now)
        armed = list(planned.armed)
        unanswered_at = await self.unanswered.plan(conn, before, case, now)
        if unanswered_at is not None:
            armed.append(unanswered_at)
        if raised is not None and raised.next_at is not None:
            armed.append(raised.next_at)
        return tuple(armed)

    async def _persist_answer(
        self, conn: AsyncConnection, inbound: Inbound, answer: DeskAnswer, now: datetime
    ) -> None:
        await record_inbound(conn, inbound, answer.case_id, now)
        await queue_replies(conn, inbound.chat, joined(answer.replies), answer.case_id, now)

    # ---- routing ------------------------------------------------------------------

    async def _route(
        self,
        conn: AsyncConnection,
        turn: Turn,
        inbound: Inbound,
        work: Groundwork,
        *,
        is_new: bool,
    ) -> tuple[datetime, ...]:
        """Carry out one event; return when the timer must wake for what it set (an
        answer from a staff member falling due)."""
        talk = await self.talks.open_of_case(conn, turn.case.id) if turn.case.talking else None
        if inbound.kind is InboundKind.BUTTON and inbound.button_data == END_TALK:
            await self._end_talk(conn, turn, talk)
            return ()
        if talk is not None and inbound.kind is InboundKind.TEXT:
            return await self._to_person(conn, turn, inbound, talk)
        if talk is not None and work.received:
            await self.talks.victim_sent_evidence(conn, turn.case, talk, turn.now)
        await self._by_kind(conn, turn, inbound, work, is_new=is_new)
        return ()

    async def _end_talk(self, conn: AsyncConnection, turn: Turn, talk: TalkRow | None) -> None:
        """The victim pressed *End the conversation*: Haven answers again, where it was."""
        if talk is None:
            self._say(turn, "talk.victim_already_ended")
            return
        turn.say(await self.talks.victim_ended(conn, turn.case, talk, turn.now))
        if turn.case.status == "open":
            self.flow.prompt(turn)

    async def _to_person(
        self, conn: AsyncConnection, turn: Turn, inbound: Inbound, talk: TalkRow
    ) -> tuple[datetime, ...]:
        """While a person holds the conversation the victim's words go to them, not to
        the flow; danger signals are still read and answered at once, and the person
        hears of those Haven is unsure of."""
        text = clean_text(inbound.text)
        if not text:
            self._say(turn, "ui.empty_message")
            return ()
        unsure = tuple(signal.id for signal in self.flow.notice_for_person(turn, text))
        return (await self.talks.from_victim(conn, turn.case, talk, text, turn.now, unsure),)

    async def _by_kind(
        self,
        conn: AsyncConnection,
        turn: Turn,
        inbound: Inbound,
        work: Groundwork,
        *,
        is_new: bool,
    ) -> None:
        kind = inbound.kind
        if _is_command(inbound, "evidence"):
            await self.evidence.list_items(conn, turn, work.contradicted or {})
            self._resume_if_new(turn, is_new)
        elif work.exported is not None:
            self.exports.reply(turn, work.exported)
            self._resume_if_new(turn, is_new)
        elif work.reported is not None:
            self.reports.reply(turn, work.reported)
            self._resume_if_new(turn, is_new)
        elif work.found is not None:
            self.searches.reply(turn, work.found)
            self._resume_if_new(turn, is_new)
        elif _is_command(inbound, "memo"):
            await self.memos.memo(conn, turn, inbound.args)
            self._resume_if_new(turn, is_new)
        elif _is_command(inbound, "timeline"):
            await self.memos.timeline(conn, turn, work.contradicted or {})
            self._resume_if_new(turn, is_new)
        elif _is_command(inbound, "lang") and inbound.args.strip():
            self._language_named(turn, inbound.args)
        elif kind is InboundKind.COMMAND:
            self._command(turn, inbound.command.lower(), is_new=is_new)
        elif kind is InboundKind.BUTTON and (asked := details_asked(inbound.button_data)):
            await self.evidence.details(conn, turn, asked)
            self._resume_if_new(turn, is_new)
        elif kind is InboundKind.BUTTON and is_new and inbound.button_data.startswith(NEW_CASE):
            self.flow.prompt(turn)
        elif kind is InboundKind.BUTTON:
            self._button(turn, inbound.button_data)
        elif kind is InboundKind.TEXT and self._is_note(turn, inbound.text):
            await self._note(conn, turn, inbound.text)
        elif kind is InboundKind.TEXT:
            self._text(turn, inbound.text, is_new=is_new)
        elif kind in EVIDENCE_KINDS:
            self._notice_in_evidence(turn, inbound)  # a cry for help comes before a receipt
            if work.received:
                await self.evidence.keep(conn, turn, work.received)
            else:
                self._say(turn, "ui.empty_message")
            self._resume_if_new(turn, is_new)
        elif kind in (InboundKind.EDIT, InboundKind.DELETE):
            await self._changed(conn, turn, inbound)
        else:
            self._say(turn, "ui.unsupported")
            self._resume_if_new(turn, is_new)

    async def _changed(self, conn: AsyncConnection, turn: Turn, inbound: Inbound) -> None:
        """An edit or deletion: evidence follows it. An edit is the person's own words (no
        platform lets one edit what was forwarded), read for danger signals first; an
        edited chat line is only read for them (it must not answer a question twice)."""
        if inbound.kind is InboundKind.EDIT:
            self.flow.notice_signals(turn, clean_text(inbound.text))
        if await self.evidence.follow_change(conn, turn, inbound):
            return
        log.info("case %s: %s of a message noted", turn.case.id, inbound.kind)

    def _notice_in_evidence(self, turn: Turn, inbound: Inbound) -> None:
        """Words that came with evidence are read for danger signals too: a caption on
        the person's own upload, or a message of their own they forward, as their own
        words; anything else forwarded as someone else's."""
        text = clean_text(inbound.text)
        if _own_words(inbound):
            self.flow.notice_signals(turn, text)
        else:
            self.flow.notice_forwarded_signals(turn, text)

    def _is_note(self, turn: Turn, raw: str) -> bool:
        text = clean_text(raw)
        return (
            bool(text)
            and len(text) <= self.settings.max_text_chars
            and (self.flow.takes_notes(turn.case))
        )

    async def _note(self, conn: AsyncConnection, turn: Turn, raw: str) -> None:
        """Typed while the item asks them to write down where they saw it: a note, kept
        as /memo would keep it (a danger signal in it is answered first)."""
        text = clean_text(raw)
        self.flow.notice_signals(turn, text)
        await self.memos.memo(conn, turn, text)
        self._say(turn, "ui.note_more")

    def _take_up_again(self, turn: Turn) -> None:
        """A closed case is opened again by the person's next message, and they are told
        so: what they send goes with what they kept, and the erasure clock stops."""
        case = turn.case
        turn.update(status="open", closed_at=None)
        label = self.prompts.t(case, "ui.btn_new_case")
        turn.say(
            self.prompts.t(case, "ui.case_taken_up", case_no=case.id),
            ((Button(label, f"{NEW_CASE}{case.id}"),),),
        )

    def _say(self, turn: Turn, key: str, **fields: object) -> None:
        turn.say(self.prompts.t(turn.case, key, **fields))

    def _resume_if_new(self, turn: Turn, is_new: bool) -> None:
        if is_new:
            self.flow.prompt(turn)

    def _command(self, turn: Turn, command: str, *, is_new: bool) -> None:
        if command == "start":
            self._start(turn, is_new=is_new)
        elif command == "status":
            self.flow.status(turn)
        elif command == "help":
            reminder_help = self.prompts.t(turn.case, "reminder.help")
            turn.say(f"{self.prompts.t(turn.case, 'ui.help')}\n\n{reminder_help}")
        elif command == "lang":
            self._language_menu(turn)
        elif command == "erase":
            self.erasures.ask(turn)
        elif command == "stop":
            turn.update(status="paused")
            self._say(turn, "ui.paused")
        else:
            self._say(turn, "ui.unknown_command", command=f"/{command[:32]}")
            self._resume_if_new(turn, is_new)

    def _start(self, turn: Turn, *, is_new: bool) -> None:
        if not is_new:
            turn.update(status="open")
            self._say(turn, "ui.resumed")
        self.flow.prompt(turn)

    def _language_named(self, turn: Turn, args: str) -> None:
        """`/lang en`, `/lang 中文`: switched at once; a name not known shows the menu."""
        locale = self.prompts.locale_named(args)
        if locale is None:
            self._language_menu(turn)
            return
        if turn.case.phase == "language":
            turn.update(locale=locale, phase="privacy")
            self.flow.prompt(turn)
            return
        self.flow.switch_language(turn, locale)

    def _language_menu(self, turn: Turn) -> None:
        choice = self.prompts.language_choice(turn.case.prompt_seq)
        buttons = tuple(
            tuple(Button(b.label, b.data.replace(":lang:", ":sw:")) for b in row)
            for row in choice.buttons
        )
        turn.say(choice.text, buttons)

    def _button(self, turn: Turn, data: str) -> None:
        if turn.case.status == "paused" and not self.flow.answers_while_paused(turn, data):
            self._say(turn, "ui.paused")
            return
        self.flow.press(turn, data)

    def _text(self, turn: Turn, raw: str, *, is_new: bool) -> None:
        text = clean_text(raw)
        if not text:
            self._say(turn, "ui.empty_message")
            self._resume_if_new(turn, is_new)
            return
        if len(text) > self.settings.max_text_chars:
            fired = self.flow.notice_signals(turn, text)
            if not fired:
                self._say(turn, "ui.too_long", limit=self.settings.max_text_chars)
            self._resume_if_new(turn, is_new)
            return
        if turn.case.status == "paused" and not turn.case.asking:
            if not self.flow.notice_signals(turn, text):
                self._say(turn, "ui.paused")
            return
        self.flow.text(turn, text)


def _starts_new_case(inbound: Inbound, case: CaseRecord) -> bool:
    return inbound.kind is InboundKind.BUTTON and inbound.button_data == f"{NEW_CASE}{case.id}"


def _is_command(inbound: Inbound, name: str) -> bool:
    return inbound.kind is InboundKind.COMMAND and inbound.command.lower() == name


def _declared_size(inbound: Inbound) -> int:
    """The bytes an evidence event brings, as far as known before any download: its
    text and the sizes the platform announced for its files."""
    files = sum(attachment.size or 0 for attachment in inbound.attachments)
    return len(inbound.text.encode()) + files


def _own_words(inbound: Inbound) -> bool:
    origin = inbound.forward_origin
    if origin is None:
        return inbound.kind is not InboundKind.FORWARD
    return origin.kind is OriginKind.USER and origin.sender_id == inbound.identity.user_id
