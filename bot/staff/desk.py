"""The staff channel: commands and alert buttons, checked against the staff's roles.

Every command's answer goes to the outbox in the transaction that carried it out. Who may
do what is bot/staff/access.py; someone without the role is refused and logged, and a refusal
that touches a case's evidence (retrievals, holds, the custody log) is also a custody event.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.content.prompts import Reply
from bot.conversation.inbound_log import already_seen, record_inbound
from bot.delivery.outbox import queue_reply
from bot.events import ChatKind, ChatRef, Identity, Inbound, InboundKind
from bot.evidence import erasure
from bot.privacy.word_digest import NOTE_LABEL, custody_reason
from bot.staff.access import ADMIN, OPERATOR, Roster, StaffRef
from bot.staff.ask import Ask, case_number
from bot.staff.briefing import Briefer
from bot.staff.escalation import ACK, RESOLVE, TAKE, Escalator, parse_button
from bot.staff.retrieval import RetrievalDesk
from bot.staff.talk import Talks
from bot.staff.texts import StaffTexts
from storage import case_keys, cases, custody, escalations, evidence_items, handling
from storage import reminders as reminder_rows
from storage.caseload import open_lines
from storage.cases import CaseRecord
from storage.database import Database
from storage.keys import KeyRing
from storage.leaves import CustodyEvent

log = logging.getLogger(__name__)

REFUSED = "refused"
NOTE = "note"
CASES_SHOWN = 20
NOTES_SHOWN = 5
CUSTODY_SHOWN = 30
# A press whose data is not one of Haven's staff buttons (an old or foreign keyboard).
UNKNOWN_BUTTON = "unknown_button"
# Commands whose refusal is a custody event: they reach for a case's evidence or its hold.
_EVIDENCE_ACTIONS = frozenset(
    {"retrieve", "approve", "deny", "fetch", "search", "hold", "unhold", "custody"}
)
# `/case N --talk`, `/hold N --release`
_TALK_OPTION = "--talk"
_RELEASE_OPTION = "--release"


Handler = Callable[[AsyncConnection, Ask], Awaitable[list[Reply]]]


class StaffDesk:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        clock: Clock,
        roster: Roster,
        words: StaffTexts,
        escalator: Escalator,
        briefer: Briefer,
        retrievals: RetrievalDesk,
        talks: Talks,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.clock = clock
        self.roster = roster
        self.words = words
        self.escalator = escalator
        self.briefer = briefer
        self.retrievals = retrievals
        self.talks = talks
        self._on_outbox = on_outbox
        self._commands: dict[str, Handler] = {
            "help": self._help,
            "cases": self._cases,
            "case": self._case,
            "note": self._note,
            "assign": self._assign,
            "resolve": self._resolve_command,
            "brief": self._brief,
            "hold": self._hold,
            "unhold": self._unhold,
            "release": self._release,
            "reply": self._reply,
            "name": self._name,
            "start": self._start,
            "custody": self._custody,
        }

    def is_member(self, identity: Identity) -> bool:
        return self.roster.is_member(identity.platform, identity.user_id)

    async def handle(self, inbound: Inbound) -> None:
        if inbound.kind is InboundKind.TEXT:
            await self._words(inbound)
            return
        if inbound.kind not in (InboundKind.COMMAND, InboundKind.BUTTON):
            return  # the staff talking among themselves
        now = self.clock.now()
        action, args = self._action_of(inbound)
        member = self.roster.find(inbound.identity.platform, inbound.identity.user_id)
        searched = None
        if action == RetrievalDesk.SEARCH and member is not None and member.may(action):
            searched = await self.retrievals.search(Ask(member, inbound.chat, args, now))
        async with self.db.transaction() as conn:
            if await already_seen(conn, inbound):
                return
            await record_inbound(conn, inbound, None, now)
            replies = await self._refusal(conn, inbound, member, action, args, now)
            if replies is None and member is not None:
                ask = Ask(member, inbound.chat, args, now)
                if searched is not None:
                    replies = searched
                elif action in RetrievalDesk.ACTIONS:
                    replies = await self.retrievals.act(conn, action, ask)
                else:
                    replies = await self._act(conn, action, ask)
            about = await self._about(conn, action, args) if replies else None
            await self._say(conn, inbound.chat, replies or [], now, about)
        self._on_outbox()
        await self.retrievals.deliver_approved()

    async def _words(self, inbound: Inbound) -> None:
        """Plain words: to the person of a conversation this staff member holds, when
        written in their private chat or in answer to a case's message; otherwise the
        staff talking among themselves."""
        member = self.roster.find(inbound.identity.platform, inbound.identity.user_id)
        if member is None or not member.may("talk"):
            return
        now = self.clock.now()
        async with self.db.transaction() as conn:
            if await already_seen(conn, inbound):
                return
            replies = await self.talks.staff_wrote(conn, member, inbound, now)
            if replies is None:
                return
            await record_inbound(conn, inbound, None, now)
            await self._say(conn, inbound.chat, replies, now)
        self._on_outbox()

    def _action_of(self, inbound: Inbound) -> tuple[str, str]:
        if inbound.kind is InboundKind.COMMAND:
            return inbound.command.lower(), inbound.args
        parsed = parse_button(inbound.button_data)
        if parsed is None:
            return UNKNOWN_BUTTON, ""
        action, target = parsed
        return action, str(target)

    async def _refusal(
        self,
        conn: AsyncConnection,
        inbound: Inbound,
        member: StaffRef | None,
        action: str,
        args: str,
        now: datetime,
    ) -> list[Reply] | None:
        who = f"{inbound.identity.platform}:{inbound.identity.user_id}"
        if member is None:
            log.warning("refused staff action %s from %s: not on the staff", action, who)
            await self._custody_refusal(conn, who, action, args, "not staff", now)
            return [Reply(self.words.t("staff.not_staff"))]
        if action in self._all_actions() and not member.may(action):
            log.warning("refused %s to %s (role %s)", action, who, member.role)
            await self._custody_refusal(conn, who, action, args, f"role {member.role}", now)
            command = f"/{action}" if inbound.kind is InboundKind.COMMAND else action
            return [Reply(self.words.t("staff.not_allowed", role=member.role, command=command))]
        return None

    def _all_actions(self) -> frozenset[str]:
        return (
            frozenset(self._commands)
            | RetrievalDesk.ACTIONS
            | {RetrievalDesk.SEARCH, ACK, TAKE, RESOLVE}
        )

    async def _custody_refusal(
        self, conn: AsyncConnection, who: str, action: str, args: str, why: str, now: datetime
    ) -> None:
        if action not in _EVIDENCE_ACTIONS:
            return
        case_id = await self.retrievals.case_of(conn, action, args)
        if case_id is None or await cases.get(conn, case_id) is None:
            return
        reason = f"/{action} refused: {why}"
        await custody.record(
            conn, CustodyEvent(actor=who, action=REFUSED, at=now, case_id=case_id, reason=reason)
        )

    async def _act(self, conn: AsyncConnection, action: str, ask: Ask) -> list[Reply]:
        if action == ACK:
            return await self._acknowledge(conn, ask)
        if action == TAKE:
            return await self._take(conn, ask)
        if action == RESOLVE:
            return await self._resolve_command(conn, ask)
        handler = self._commands.get(action)
        if handler is None:
            if action == UNKNOWN_BUTTON:
                return [Reply(self.words.t("staff.no_escalation"))]
            return [Reply(self.words.t("staff.unknown_command", command=f"/{action[:32]}"))]
        return await handler(conn, ask)

    async def _say(
        self,
        conn: AsyncConnection,
        chat: ChatRef,
        replies: Iterable[Reply],
        now: datetime,
        about: int | None = None,
    ) -> None:
        for reply in replies:
            await queue_reply(conn, chat, reply, about, now)

    async def _about(self, conn: AsyncConnection, action: str, args: str) -> int | None:
        """The case an answer to the staff shows (its summary, notes, custody trail, a
        retrieval of its evidence): queued under that case, so erasing it blanks the
        answer as it does the victim's own messages (bot/evidence/erasure.py)."""
        if action == ACK:
            acknowledged = await escalations.get(conn, int(args))
            return acknowledged.case_id if acknowledged else None
        number = await self.retrievals.case_of(conn, action, args)
        if number is None or await cases.get(conn, number) is None:
            return None
        return number

    def _usage(self, usage: str) -> list[Reply]:
        return [Reply(self.words.t("staff.usage", usage=usage))]

    async def _existing_case(
        self, conn: AsyncConnection, args: str, usage: str
    ) -> tuple[CaseRecord | None, list[Reply]]:
        number = case_number(args)
        if number is None:
            return None, self._usage(usage)
        case = await cases.get(conn, number)
        if case is None:
            return None, [Reply(self.words.t("staff.no_such_case", case_id=number))]
        return case, []

    # ---- buttons --------------------------------------------------------------------

    async def _acknowledge(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        closed = await self.escalator.close(
            conn, int(ask.args), state=escalations.ACKNOWLEDGED, by=ask.member.actor, now=ask.now
        )
        if closed is None:
            return [Reply(self.words.t("staff.no_escalation"))]
        row = closed.escalation
        if closed.won:
            log.info("case %s acknowledged by %s", row.case_id, ask.member.actor)
            who = ask.member.label
            return [Reply(self.words.t("staff.acknowledged", case_id=row.case_id, who=who))]
        return [self._already(row.case_id, row)]

    def _already(self, case_id: int, row: escalations.EscalationRow) -> Reply:
        key = (
            "staff.already_resolved"
            if row.state == escalations.RESOLVED
            else "staff.already_acknowledged"
        )
        when = self.words.at(row.closed_at) if row.closed_at else "—"
        return Reply(self.words.t(key, case_id=case_id, who=self.words.who(row.closed_by), at=when))

    async def _take(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        """*Take case* (or *Talk to the person*): the case is this person's, and so is
        the conversation with the victim; of two people pressing at once, one wins."""
        case_id = int(ask.args)
        state = await handling.get(conn, case_id)
        if state.resolved_at is not None:
            return [self._resolved_already(case_id, state, "staff.already_resolved")]
        taken = await self.talks.take(conn, case_id, ask.member, ask.now)
        if taken.talk is None:
            return taken.replies
        await handling.assign(
            conn, case_id, assignee=ask.member.actor, by=ask.member.actor, now=ask.now
        )
        current = await escalations.latest_of_case(conn, case_id)
        if current is not None and current.state == escalations.OPEN:
            await self.escalator.close(
                conn,
                current.id,
                state=escalations.ACKNOWLEDGED,
                by=ask.member.actor,
                now=ask.now,
                tell_victim=False,
            )
        return taken.replies or [
            Reply(self.words.t("staff.taken", case_id=case_id, who=ask.member.label))
        ]

    def _resolved_already(self, case_id: int, state: handling.Handling, key: str) -> Reply:
        when = self.words.at(state.resolved_at) if state.resolved_at else "—"
        return Reply(
            self.words.t(key, case_id=case_id, who=self.words.who(state.resolved_by), at=when)
        )

    # ---- commands -------------------------------------------------------------------

    async def _help(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        return [Reply(self.words.t("staff.help"))]

    async def _resolve_command(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        case, refusal = await self._existing_case(conn, ask.args, "/resolve N")
        if case is None:
            return refusal
        if not await handling.resolve(conn, case.id, by=ask.member.actor, now=ask.now):
            state = await handling.get(conn, case.id)
            return [self._resolved_already(case.id, state, "staff.resolve_already")]
        await self.talks.resolved(conn, ask.member, case.id, ask.now)
        await self.escalator.resolve_case(conn, case.id, by=ask.member.actor, now=ask.now)
        log.info("case %s resolved by %s", case.id, ask.member.actor)
        return [Reply(self.words.t("staff.resolved", case_id=case.id, who=ask.member.label))]

    async def _cases(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        lines, total = await open_lines(conn, CASES_SHOWN)
        if not lines:
            return [Reply(self.words.t("staff.cases_none"))]
        words = self.words
        shown = [words.t("staff.cases_header", total=total)]
        for line in lines:
            shown.append(
                words.t(
                    "staff.case_line",
                    case_id=line.case_id,
                    severity=words.severity(line.severity),
                    step=words.step(line.step),
                    age=words.span(ask.now - line.created_at),
                    handling=self._handler_text(line.assignee, line.unacknowledged),
                )
                + (f" · {words.t('talk.closed_by_person')}" if line.closed else "")
            )
        if total > len(lines):
            shown.append(words.t("staff.cases_more", n=total - len(lines)))
        return [Reply("\n".join(shown))]

    def _handler_text(self, assignee: str, unacknowledged: bool) -> str:
        words = self.words
        if not assignee:
            text = words.t("staff.unassigned")
        elif self.roster.by_actor(assignee) is None:
            text = words.t("staff.former_staff", who=assignee)
        else:
            text = words.t("staff.assigned_to", who=words.who(assignee))
        return f"{text} · {words.t('staff.awaiting_ack')}" if unacknowledged else text

    async def _case(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        case, refusal = await self._existing_case(conn, ask.args, "/case N [--talk]")
        if case is None:
            return refusal
        if _TALK_OPTION in ask.args.split()[1:]:
            return await self.talks.record(conn, ask.member, case.id, ask.now)
        words = self.words
        state = await handling.get(conn, case.id)
        usage = await evidence_items.usage(conn, case.id)
        pending = await reminder_rows.pending_of_case(conn, case.id)
        escalation = await escalations.latest_of_case(conn, case.id)
        summary = words.t(
            "staff.case_summary",
            case_id=case.id,
            severity=words.severity(case.severity),
            status=self._status_text(case, state),
            reasons=words.reasons(case.reasons),
            step=words.step(case.step),
            age=words.span(ask.now - case.created_at),
            locale=words.language(case.locale),
            via=words.platform(case.platform),
            items=usage.last_item_no,
            reminders=len(pending),
            escalation=self._escalation_text(escalation, ask.now),
            handling=self._handler_text(state.assignee, False),
        )
        notes, total = await handling.notes(conn, case.id, NOTES_SHOWN)
        if notes:
            summary += "\n" + words.t("staff.notes_header", total=total)
            for note in notes:
                summary += "\n" + words.t(
                    "staff.note_line",
                    at=words.at(note.at),
                    who=words.who(note.author),
                    text=self.words.masked(note.text),
                )
        return [Reply(summary)]

    def _status_text(self, case: CaseRecord, state: handling.Handling) -> str:
        words = self.words
        if state.resolved_at is not None:
            return words.t(
                "staff.status_resolved",
                who=words.who(state.resolved_by),
                at=words.at(state.resolved_at),
            )
        if case.status == "paused":
            return words.t("staff.status_paused")
        return words.t("staff.status_closed" if case.status == "closed" else "staff.status_open")

    def _escalation_text(self, row: escalations.EscalationRow | None, now: datetime) -> str:
        words = self.words
        if row is None:
            return words.t("staff.escalation_none")
        if row.state == escalations.OPEN:
            return words.t(
                "staff.escalation_open", level=row.level + 1, age=words.span(now - row.opened_at)
            )
        when = words.at(row.closed_at) if row.closed_at else "—"
        return words.t(f"staff.escalation_{row.state}", who=words.who(row.closed_by), at=when)

    async def _note(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        case, refusal = await self._existing_case(conn, ask.args, "/note N TEXT")
        if case is None:
            return refusal
        text = ask.args.split(maxsplit=1)[1].strip() if len(ask.args.split(maxsplit=1)) > 1 else ""
        if not text:
            return [Reply(self.words.t("staff.note_empty"))]
        # The log commits to the note without holding its words, which may be personal.
        key = await case_keys.data_key_for_new_item(conn, self.keyring, case.id, ask.now)
        event = CustodyEvent(
            actor=ask.member.actor,
            action=NOTE,
            at=ask.now,
            case_id=case.id,
            reason=custody_reason(key, NOTE_LABEL, text),
        )
        appended = await custody.record(conn, event)
        await handling.add_note(
            conn, case.id, author=ask.member.actor, text=text, at=ask.now, leaf_index=appended.index
        )
        return [Reply(self.words.t("staff.noted", case_id=case.id))]

    async def _assign(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        parts = ask.args.split()
        case, refusal = await self._existing_case(conn, ask.args, "/assign N @person")
        if case is None:
            return refusal
        if len(parts) < 2:
            return self._usage("/assign N @person")
        person = self.roster.lookup(parts[1], ask.member.platform)
        if person is None or person.role not in (OPERATOR, ADMIN):
            return [Reply(self.words.t("staff.assign_unknown", handle=parts[1][:64]))]
        await handling.assign(
            conn, case.id, assignee=person.actor, by=ask.member.actor, now=ask.now
        )
        log.info("case %s assigned to %s by %s", case.id, person.actor, ask.member.actor)
        assigned = self.words.t(
            "staff.assigned", case_id=case.id, who=person.label, by=ask.member.label
        )
        if case.status == "closed":
            return [Reply(assigned)]
        taken = await self.talks.take(conn, case.id, person, ask.now, handing_over=True)
        return [Reply(assigned), *taken.replies]

    async def _brief(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        return [Reply(await self.briefer.compose(conn, ask.now, on_request=True))]

    async def _hold(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        case, refusal = await self._existing_case(conn, ask.args, "/hold N REASON")
        if case is None:
            return refusal
        parts = ask.args.split(maxsplit=1)
        reason = parts[1].strip() if len(parts) > 1 else ""
        if reason.split()[:1] == [_RELEASE_OPTION]:
            return await self._lift_hold(conn, ask, case, reason.removeprefix(_RELEASE_OPTION))
        if not reason:
            return self._usage("/hold N REASON")
        if await erasure.held(conn, case.id):
            return [Reply(self.words.t("staff.hold_already", case_id=case.id))]
        await erasure.place_hold(conn, case.id, actor=ask.member.actor, reason=reason, now=ask.now)
        return [Reply(self.words.t("staff.held", case_id=case.id))]

    async def _unhold(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        case, refusal = await self._existing_case(conn, ask.args, "/unhold N [REASON]")
        if case is None:
            return refusal
        parts = ask.args.split(maxsplit=1)
        return await self._lift_hold(conn, ask, case, parts[1] if len(parts) > 1 else "")

    async def _lift_hold(
        self, conn: AsyncConnection, ask: Ask, case: CaseRecord, reason: str
    ) -> list[Reply]:
        lifted = await erasure.lift_hold(
            conn, case.id, actor=ask.member.actor, reason=reason.strip(), now=ask.now
        )
        key = "staff.released" if lifted else "staff.hold_none"
        return [Reply(self.words.t(key, case_id=case.id))]

    async def _release(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        """`/release N` ends the conversation with the victim. It lifted legal holds
        before conversations existed: said so when there is none to end."""
        case, refusal = await self._existing_case(conn, ask.args, "/release N")
        if case is None:
            return refusal
        ended = await self.talks.release(conn, ask.member, case.id, ask.now)
        if ended is not None:
            return ended
        return [Reply(self.words.t("talk.nothing_to_release", case_id=case.id))]

    async def _reply(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        usage = self.words.t("talk.reply_usage")
        case, refusal = await self._existing_case(conn, ask.args, usage)
        if case is None:
            return refusal
        parts = ask.args.split(maxsplit=1)
        text = parts[1].strip() if len(parts) > 1 else ""
        if not text:
            return self._usage(usage)
        return await self.talks.reply(conn, ask.member, case.id, text, ask.now)

    async def _name(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        return await self.talks.name(conn, ask.member, ask.args, ask.now)

    async def _start(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        """A staff member opening their private chat with Haven (Telegram's /start)."""
        if ask.chat.kind is ChatKind.PRIVATE:
            return [Reply(self.words.t("talk.dm_hello"))]
        return [Reply(self.words.t("staff.help"))]

    async def _custody(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        case, refusal = await self._existing_case(conn, ask.args, "/custody N")
        if case is None:
            return refusal
        rows = await custody.for_case(conn, case.id)
        if not rows:
            return [Reply(self.words.t("staff.custody_none", case_id=case.id))]
        words = self.words
        shown = [words.t("staff.custody_header", case_id=case.id, total=len(rows))]
        for row in rows[-CUSTODY_SHOWN:]:
            event = row.event
            item = "" if event.item_no is None else words.t("custody.item", item_no=event.item_no)
            reason = words.masked(event.reason)
            shown.append(
                words.t(
                    "custody.line",
                    at=words.at(event.at),
                    actor=words.actor(event.actor),
                    action=words.custody_action(event.action),
                    item=item,
                    reason=f" · {reason}" if reason else "",
                )
            )
        return [Reply("\n".join(shown))]
