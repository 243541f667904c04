"""A person on the other end: a staff member and the victim talk through Haven.

Taking a case (*Take case* or *Talk to the person* on an alert, `/assign`, or `/reply` on
a case nobody holds) opens a conversation with one staff member: the partial unique index
on `talks` and a conditional insert make the first of two simultaneous takes win. From
then on what the victim writes goes to that staff member, in a private chat on the staff
platform or in the thread under the case's alert (`[handoff] relay`), personal data masked
unless they hold an approved retrieval of the case for that time; what the staff member
writes back (`/reply N TEXT`, or simply answering in the private chat or the thread) goes
to the victim through the outbox under the name they chose. Both ways are kept sealed with
the case's data key (storage/talks.py), so whoever takes the case next can read them with
`/case N --talk`; each start, end and staff message is a custody event, a staff message by
the hash of its text.

Nobody waits in silence: when the victim writes, an answer falls due after
`[handoff] answer_minutes`. The row is the timer's truth (this class is a `Duty` of the
reminder scheduler, like escalations): an answer overdue tells the victim honestly — and
outside staffed hours when people are back and whom to call in an emergency — and raises
the case to the team again, where another staff member may take the conversation over.

The crisis-signal work's "Talk to a person" calls `request_person`: a normal-priority
alert whose take button reads *Talk to the person* and leads here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import WEEKDAYS, Handoff
from bot.content.prompts import Prompts, Reply, joined
from bot.conversation.flow import Flow
from bot.delivery.outbox import queue_reply
from bot.events import Button, ChatKind, ChatRef, Inbound
from bot.privacy.word_digest import STAFF_WORDS_LABEL, custody_reason
from bot.staff.access import StaffRef
from bot.staff.escalation import ASKED_FOR_PERSON, UNANSWERED, Escalator, Raised
from bot.staff.texts import StaffTexts
from storage import case_keys, cases, custody, escalations, outbox, retrievals, talks
from storage.case_keys import CaseKeyError
from storage.cases import CaseRecord
from storage.database import Database
from storage.keys import KeyRing
from storage.leaves import CustodyEvent
from storage.talks import TalkRow

log = logging.getLogger(__name__)

# The victim's button that ends the conversation (the flow's buttons are "seq:verb:arg").
END_TALK = "t:end"
STARTED = "talk_started"
ENDED = "talk_ended"
STAFF_MESSAGE = "staff_message"
LOG_SHOWN = 30
NAME_LIMIT = 40
RELAY_DM = "dm"


@dataclass(frozen=True)
class Taken:
    """What taking a case's conversation came to: `talk` when this person now holds it,
    else `replies` saying why not."""

    talk: TalkRow | None
    replies: list[Reply]


class Talks:
    def __init__(
        self,
        db: Database,
        keyring: KeyRing,
        words: StaffTexts,
        escalator: Escalator,
        flow: Flow,
        settings: Handoff,
        mask: Callable[[str], str],
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.words = words
        self.escalator = escalator
        self.flow = flow
        self.prompts: Prompts = flow.prompts
        self.settings = settings
        self.answer_after = timedelta(minutes=settings.answer_minutes)
        self._mask = mask
        # Held reminders come once a conversation ends: the scheduler is told to look.
        self.wake_reminders: Callable[[Iterable[datetime]], None] = lambda _: None

    @property
    def zone(self) -> ZoneInfo:
        return self.words.zone

    async def open_of_case(self, conn: AsyncConnection, case_id: int) -> TalkRow | None:
        return await talks.open_of_case(conn, case_id)

    # ---- beginning ------------------------------------------------------------------

    async def request_person(
        self, conn: AsyncConnection, case: CaseRecord, now: datetime
    ) -> Raised:
        """The victim asked to talk to a person: alert the team (whatever the case's
        severity, with *Talk to the person*), which leads to `take`. The caller tells the
        victim (when `tell_victim`) and arms the timer for `next_at`."""
        return await self.escalator.raise_for(conn, case, (ASKED_FOR_PERSON,), now)

    async def take(
        self,
        conn: AsyncConnection,
        case_id: int,
        member: StaffRef,
        now: datetime,
        *,
        handing_over: bool = False,
    ) -> Taken:
        """Open the case's conversation with `member`. Someone else's conversation is
        taken over only when it was handed over (`/assign`) or its answer is overdue."""
        case = await cases.get(conn, case_id)
        if case is None:
            return Taken(None, [Reply(self.words.t("staff.no_such_case", case_id=case_id))])
        if case.status == "closed":
            return Taken(None, [Reply(self.words.t("talk.closed_case", case_id=case_id))])
        current = await talks.open_of_case(conn, case_id)
        if current is not None and current.staff == member.actor:
            return Taken(current, [])
        if current is not None:
            if not (handing_over or self._overdue(current, now)):
                return Taken(None, [self._held_by(current)])
            why = self.words.t("talk.why_handed", who=member.label)
            await self._close(conn, current, case, by=member.actor, why=why, now=now, resume=False)
        name = await self._chosen_name(conn, member)
        talk = await talks.start(conn, case_id, staff=member.actor, display_name=name, now=now)
        if talk is None:  # someone else's take won meanwhile
            won = await talks.open_of_case(conn, case_id)
            assert won is not None
            return Taken(None, [self._held_by(won)])
        await self._custody(conn, member.actor, STARTED, case.id, now, f"shown as {name or '-'}")
        await self._tell_victim_started(conn, case, talk, now)
        await self._tell_holder_started(conn, case, talk, member, now)
        log.info("case %s: %s is talking with the person", case.id, member.actor)
        shown = self._name(talk, self.words.locale)
        reply = Reply(self.words.t("talk.taken", case_id=case.id, who=member.label, name=shown))
        return Taken(talk, [reply])

    def _overdue(self, talk: TalkRow, now: datetime) -> bool:
        return talk.waiting_since is not None and now - talk.waiting_since >= self.answer_after

    def _held_by(self, talk: TalkRow) -> Reply:
        return Reply(
            self.words.t(
                "talk.held_by",
                case_id=talk.case_id,
                who=self.words.who(talk.staff),
                at=self.words.at(talk.opened_at),
            )
        )

    async def _chosen_name(self, conn: AsyncConnection, member: StaffRef) -> str:
        return await talks.chosen_name(conn, member.actor) or member.display_name

    def _name(self, talk: TalkRow, locale: str) -> str:
        """What the victim sees: the chosen name, never the platform handle."""
        return talk.display_name or self.words.victim(locale, "talk.default_name")

    async def _tell_victim_started(
        self, conn: AsyncConnection, case: CaseRecord, talk: TalkRow, now: datetime
    ) -> None:
        text = self.words.victim(
            case.locale, "talk.victim_started", name=self._name(talk, case.locale)
        )
        await queue_reply(
            conn, _victim_chat(case), Reply(text, self._end_button(case)), case.id, now
        )

    async def _tell_holder_started(
        self,
        conn: AsyncConnection,
        case: CaseRecord,
        talk: TalkRow,
        member: StaffRef,
        now: datetime,
    ) -> None:
        words = self.words
        name = self._name(talk, case.locale)
        if self.settings.relay == RELAY_DM:
            text = words.t(
                "talk.dm_started", case_id=case.id, locale=words.language(case.locale), name=name
            )
        else:
            text = words.t("talk.thread_started", case_id=case.id, who=member.label, name=name)
        await self._to_holder(conn, talk, Reply(text), now)

    def _end_button(self, case: CaseRecord) -> tuple[tuple[Button, ...], ...]:
        return ((Button(self.words.victim(case.locale, "talk.btn_end"), END_TALK),),)

    # ---- the victim writes --------------------------------------------------------------

    async def from_victim(
        self,
        conn: AsyncConnection,
        case: CaseRecord,
        talk: TalkRow,
        text: str,
        now: datetime,
        unsure: tuple[str, ...] = (),
    ) -> datetime:
        """Pass the victim's words to the holder, with a line for each danger signal
        Haven is unsure the words carry (``unsure``: signal ids) and did not ask about;
        return when an answer falls due."""
        key = await case_keys.data_key_for_new_item(conn, self.keyring, case.id, now)
        await talks.add_message(conn, key, talk, author=talks.VICTIM, text=text, at=now)
        shown = (
            text if await self._unmasked(conn, talk.staff, case.id, now, now) else self._mask(text)
        )
        relayed = self.words.t("talk.relayed", case_id=case.id, text=shown)
        notes = [self.words.t(f"talk.unsure_{signal}") for signal in unsure]
        await self._to_holder(conn, talk, Reply("\n".join((relayed, *notes))), now)
        due = now + self.answer_after
        await talks.victim_wrote(conn, talk, now=now, due=due)
        return talk.answer_due_at or due

    async def victim_sent_evidence(
        self, conn: AsyncConnection, case: CaseRecord, talk: TalkRow, now: datetime
    ) -> None:
        """Evidence is kept and receipted as ever; the holder hears that it came, not what."""
        notice = self.words.t("talk.relayed_evidence", case_id=case.id)
        await self._to_holder(conn, talk, Reply(notice), now)

    async def _unmasked(
        self, conn: AsyncConnection, staff: str, case_id: int, at: datetime, now: datetime
    ) -> bool:
        """Personal data is shown only under an approved, unexpired retrieval of the case
        by this staff member whose window holds the moment the words were written."""
        windows = await retrievals.approved_windows(conn, case_id, staff, now)
        return any(start <= at < end for start, end in windows)

    async def _to_holder(
        self, conn: AsyncConnection, talk: TalkRow, reply: Reply, now: datetime
    ) -> None:
        """To the holder's private chat, or into the thread of the case's alert."""
        if self.settings.relay == RELAY_DM:
            platform, _, user_id = talk.staff.partition(":")
            chat = ChatRef(platform, user_id, ChatKind.PRIVATE)
            await queue_reply(conn, chat, reply, talk.case_id, now)
            return
        alert = await escalations.first_alert_of_case(conn, talk.case_id)
        if alert is None:
            for channel in self.escalator.first_channels:
                await queue_reply(conn, channel, reply, talk.case_id, now)
            return
        chat = ChatRef(alert.platform, alert.chat_id, ChatKind.STAFF)
        await queue_reply(conn, chat, reply, talk.case_id, now, reply_to_row=alert.outbox_id)

    # ---- the staff member writes ---------------------------------------------------------

    async def reply(
        self, conn: AsyncConnection, member: StaffRef, case_id: int, text: str, now: datetime
    ) -> list[Reply]:
        """`/reply N TEXT`: to the person, taking the conversation first if nobody holds it."""
        taken = await self.take(conn, case_id, member, now)
        if taken.talk is None:
            return taken.replies
        await self._send(conn, member, taken.talk, text, now)
        return [*taken.replies, Reply(self.words.t("talk.sent", case_id=case_id))]

    async def staff_wrote(
        self, conn: AsyncConnection, member: StaffRef, inbound: Inbound, now: datetime
    ) -> list[Reply] | None:
        """Plain words from a staff member in their private chat or under an alert: to the
        person of the conversation they answer. None when it is not for a person (staff
        talking among themselves in the channel)."""
        text = inbound.text.strip()
        private = inbound.chat.kind is ChatKind.PRIVATE
        answered = None
        if inbound.reply_to:
            answered = await outbox.case_of_sent(
                conn, inbound.chat.platform, inbound.chat.chat_id, inbound.reply_to
            )
        if not text or (answered is None and not private):
            return None
        held = await talks.held_by(conn, member.actor)
        if answered is not None:
            talk = next((t for t in held if t.case_id == answered), None)
            if talk is None:
                return await self._not_holding(conn, answered) if private else None
        elif not held:
            return [Reply(self.words.t("talk.no_talks"))]
        elif len(held) > 1:
            numbers = self.words.t("meta.list_separator").join(f"#{t.case_id}" for t in held)
            return [Reply(self.words.t("talk.which_case", cases=numbers))]
        else:
            talk = held[0]
        await self._send(conn, member, talk, text, now)
        return []

    async def _not_holding(self, conn: AsyncConnection, case_id: int) -> list[Reply]:
        current = await talks.open_of_case(conn, case_id)
        if current is None:
            return [Reply(self.words.t("talk.no_talks"))]
        who = self.words.who(current.staff)
        return [Reply(self.words.t("talk.not_holding", case_id=case_id, who=who))]

    async def _send(
        self, conn: AsyncConnection, member: StaffRef, talk: TalkRow, text: str, now: datetime
    ) -> None:
        case = await cases.get(conn, talk.case_id)
        assert case is not None  # a conversation's case is never deleted, only erased
        name = self._name(talk, case.locale)
        said = self.words.victim(case.locale, "talk.from_staff", name=name, text=text)
        await queue_reply(
            conn, _victim_chat(case), Reply(said, self._end_button(case)), case.id, now
        )
        # The log commits to the words without holding them.
        key = await case_keys.data_key_for_new_item(conn, self.keyring, case.id, now)
        reason = custody_reason(key, STAFF_WORDS_LABEL, text)
        appended = await self._custody(conn, member.actor, STAFF_MESSAGE, case.id, now, reason)
        await talks.add_message(
            conn, key, talk, author=member.actor, text=text, at=now, leaf_index=appended
        )
        await talks.answered(conn, talk.id)

    # ---- ending ---------------------------------------------------------------------

    async def release(
        self, conn: AsyncConnection, member: StaffRef, case_id: int, now: datetime
    ) -> list[Reply] | None:
        """`/release N`: end the conversation; None when the case has none."""
        talk = await talks.open_of_case(conn, case_id)
        case = await cases.get(conn, case_id)
        if talk is None or case is None:
            return None
        why = self.words.t("talk.why_released", who=member.label)
        await self._close(conn, talk, case, by=member.actor, why=why, now=now, resume=True)
        return [Reply(self.words.t("talk.ended", case_id=case_id, why=why))]

    async def resolved(
        self, conn: AsyncConnection, member: StaffRef, case_id: int, now: datetime
    ) -> None:
        """The case was resolved: its conversation ends (the victim hears of the
        resolution itself, from the escalator)."""
        talk = await talks.open_of_case(conn, case_id)
        case = await cases.get(conn, case_id)
        if talk is None or case is None:
            return
        why = self.words.t("talk.why_resolved", who=member.label)
        await self._close(conn, talk, case, by=member.actor, why=why, now=now, resume=False)

    async def victim_ended(
        self, conn: AsyncConnection, case: CaseRecord, talk: TalkRow, now: datetime
    ) -> str:
        """The victim pressed *End the conversation*: what to tell them (the caller shows
        the flow again, in the same turn)."""
        why = self.words.t("talk.why_victim")
        await self._close(conn, talk, case, by=talks.VICTIM, why=why, now=now, resume=False)
        return self.words.victim(
            case.locale, "talk.victim_ended_by_you", name=self._name(talk, case.locale)
        )

    async def _close(
        self,
        conn: AsyncConnection,
        talk: TalkRow,
        case: CaseRecord,
        *,
        by: str,
        why: str,
        now: datetime,
        resume: bool,
    ) -> None:
        if not await talks.end(conn, talk.id, by=by, now=now):
            return
        await self._custody(conn, by, ENDED, case.id, now, why)
        notice = self.words.t("talk.ended", case_id=case.id, why=why)
        await self._to_holder(conn, talk, Reply(notice), now)
        if resume:
            lead = self.words.victim(
                case.locale, "talk.victim_ended_by_staff", name=self._name(talk, case.locale)
            )
            await self._resume(conn, case, lead, now)
        self.wake_reminders((now,))
        log.info("case %s: the conversation ended (%s)", case.id, by)

    async def _resume(
        self, conn: AsyncConnection, case: CaseRecord, lead: str, now: datetime
    ) -> None:
        """Haven answers again: the lead line, then the flow where it was."""
        turn = self.flow.begin(case, now)
        turn.say(lead)
        if case.status == "open":
            self.flow.prompt(turn)
        outcome = self.flow.finish(turn)
        await cases.save(conn, case, outcome.case, now)
        for reply in joined(outcome.replies):
            await queue_reply(conn, _victim_chat(case), reply, case.id, now)
        if outcome.alert_reasons:
            await self.escalator.raise_for(conn, outcome.case, outcome.alert_reasons, now)

    # ---- names and the record -------------------------------------------------------------

    async def name(
        self, conn: AsyncConnection, member: StaffRef, args: str, now: datetime
    ) -> list[Reply]:
        """`/name NAME` sets what victims see; `/name` alone says what it is."""
        chosen = " ".join(args.split())
        if not chosen:
            current = await self._chosen_name(conn, member) or self.words.t("talk.default_name")
            return [Reply(self.words.t("talk.name_now", name=current))]
        if len(chosen) > NAME_LIMIT:
            return [Reply(self.words.t("talk.name_too_long"))]
        await talks.choose_name(conn, member.actor, chosen, now)
        return [Reply(self.words.t("talk.name_set", name=chosen))]

    async def record(
        self, conn: AsyncConnection, member: StaffRef, case_id: int, now: datetime
    ) -> list[Reply]:
        """`/case N --talk`: the conversation so far, masked unless an approved retrieval
        of this staff member covers a message's time."""
        said, total = await talks.messages(conn, case_id, LOG_SHOWN)
        words = self.words
        if not said:
            return [Reply(words.t("talk.log_none", case_id=case_id))]
        try:
            key = await case_keys.data_key(conn, self.keyring, case_id)
        except CaseKeyError:
            return [Reply(words.t("talk.log_erased", case_id=case_id))]
        windows = await retrievals.approved_windows(conn, case_id, member.actor, now)
        masking = "" if windows else words.t("talk.log_masked")
        lines = [words.t("talk.log_header", case_id=case_id, total=total, masking=masking)]
        for message in said:
            text = message.text(key)
            if not any(start <= message.at < end for start, end in windows):
                text = self._mask(text)
            who = (
                words.t("talk.the_person")
                if message.author == talks.VICTIM
                else words.who(message.author)
            )
            lines.append(words.t("talk.log_line", at=words.at(message.at), who=who, text=text))
        return [Reply("\n".join(lines))]

    async def _custody(
        self,
        conn: AsyncConnection,
        actor: str,
        action: str,
        case_id: int,
        now: datetime,
        reason: str,
    ) -> int:
        event = CustodyEvent(actor=actor, action=action, at=now, case_id=case_id, reason=reason)
        return (await custody.record(conn, event)).index

    # ---- the timer: answers overdue -------------------------------------------------------

    async def fire_due(self, now: datetime, batch: int = 100) -> int:
        """Every conversation whose answer is overdue: tell the victim, alert the team."""
        queued = 0
        while True:
            async with self.db.transaction() as conn:
                due = await talks.due(conn, now, batch)
                for talk in due:
                    queued += await self._overdue_answer(conn, talk, now)
            if len(due) < batch:
                return queued

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return await talks.next_due(conn, after)

    async def _overdue_answer(self, conn: AsyncConnection, talk: TalkRow, now: datetime) -> int:
        case = await cases.get(conn, talk.case_id)
        if case is None or not await talks.claim_overdue(conn, talk):
            return 0
        name = self._name(talk, case.locale)
        contacts = self.prompts.contacts(case, support=True)
        local = now.astimezone(self.zone)
        if self.settings.staffed_at(local):
            text = self.words.victim(
                case.locale, "talk.victim_unanswered", name=name, contacts=contacts
            )
        else:
            hours = self._hours(case.locale)
            text = self.words.victim(
                case.locale, "talk.victim_off_hours", name=name, hours=hours, contacts=contacts
            )
        await queue_reply(
            conn, _victim_chat(case), Reply(text, self._end_button(case)), case.id, now
        )
        waited = self.words.span(now - (talk.waiting_since or now))
        notice = self.words.t(
            "talk.unanswered", case_id=case.id, span=waited, who=self.words.who(talk.staff)
        )
        await self._to_holder(conn, talk, Reply(notice), now)
        await self.escalator.raise_for(conn, case, (UNANSWERED,), now)
        log.warning("case %s: the person's messages went unanswered; the team is alerted", case.id)
        return 2

    def _hours(self, locale: str) -> str:
        """When people are on duty, in the victim's language and the deployment's zone."""
        settings = self.settings
        days = [d for d in WEEKDAYS if d in settings.staffed_days]
        shown = (
            self.words.victim(locale, "weekday.every_day")
            if len(days) == len(WEEKDAYS)
            else self.words.victim(locale, "meta.list_separator").join(
                self.words.victim(locale, f"weekday.{d}") for d in days
            )
        )
        if settings.staffed_from == settings.staffed_until:
            return self.words.victim(locale, "talk.hours_all_day", days=shown)
        return self.words.victim(
            locale,
            "talk.hours",
            days=shown,
            start=settings.staffed_from,
            end=settings.staffed_until,
            zone=str(self.zone),
        )


def _victim_chat(case: CaseRecord) -> ChatRef:
    return ChatRef(case.platform, case.chat_id, ChatKind.PRIVATE)
