"""Reminders as the victim meets them: set when the flow shows or ticks off an item,
answered by their buttons, listed by /reminders, held at night unless /quiet says not.

Everything here runs inside the dispatcher's transaction, so a reminder row, the case
state that caused it and the reply about it are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.deadlines import QuietHours
from bot.content.prompts import Reply
from bot.conversation.desk_answer import DeskAnswer
from bot.conversation.flow import Outcome
from bot.events import Inbound, InboundKind
from bot.reminders.planning import (
    AFTER_DONE,
    UNTIL_DONE,
    Action,
    Press,
    QuietPress,
    ReminderPolicy,
    changes_of,
    parse_button,
)
from bot.reminders.texts import ReminderTexts
from storage import cases, reminders
from storage.cases import CaseRecord
from storage.reminders import NewReminder, Reminder, Retimed

COMMANDS = ("reminders", "quiet")
LISTED = 20


@dataclass(frozen=True)
class PlannedTurn:
    """A flow outcome's replies with the "I'll remind you at …" lines put in place."""

    replies: tuple[Reply, ...]
    armed: tuple[datetime, ...]


class ReminderDesk:
    def __init__(self, policy: ReminderPolicy, texts: ReminderTexts, default_locale: str) -> None:
        self.policy = policy
        self.texts = texts
        self.default_locale = default_locale

    # ---- the flow's side: a turn's reminders ---------------------------------------

    async def plan_turn(
        self, conn: AsyncConnection, before: CaseRecord, outcome: Outcome, now: datetime
    ) -> PlannedTurn:
        case = outcome.case
        changes = changes_of(self.policy, before, case, (item for _, item in outcome.marks))
        replies = list(outcome.replies)
        if changes.empty:
            return PlannedTurn(tuple(replies), ())
        await reminders.close_items(
            conn, case.id, changes.done, mode=UNTIL_DONE, state="done", now=now
        )
        await reminders.close_items(
            conn, case.id, changes.dropped, mode=UNTIL_DONE, state="cancelled", now=now
        )
        armed = [now] if changes.resumed else []
        if changes.became_urgent:
            armed += await self._make_urgent(conn, case.id, now)
        if changes.candidates:
            planned = await self._plan_items(conn, case, changes.candidates, now)
            armed += [r.fire_at for group in planned for r in group]
            self._confirm(replies, outcome.marks, planned, case.locale, now)
        return PlannedTurn(tuple(replies), tuple(armed))

    async def _plan_items(
        self, conn: AsyncConnection, case: CaseRecord, items: Sequence[str], now: datetime
    ) -> list[tuple[NewReminder, ...]]:
        existing = await reminders.items_with_reminders(conn, case.id)
        todo = [item for item in items if item not in existing]
        if not todo:
            return []
        quiet = self.policy.quiet_for(
            await reminders.quiet_hours(conn, case.platform, case.user_id)
        )
        planned = [self.policy.plan_item(case, item, now, quiet) for item in todo]
        await reminders.add(conn, [r for group in planned for r in group], now)
        return planned

    def _confirm(
        self,
        replies: list[Reply],
        marks: Sequence[tuple[int, str]],
        planned: Sequence[tuple[NewReminder, ...]],
        locale: str,
        now: datetime,
    ) -> None:
        """Each confirmation goes right after what the flow said about its item."""
        position = {item: index for index, item in marks}
        placed = sorted(
            ((position.get(group[0].item_id, len(replies)), group) for group in planned),
            key=lambda pair: pair[0],
            reverse=True,
        )
        for index, group in placed:
            replies.insert(index, self.texts.scheduled(locale, group, now))

    async def _make_urgent(
        self, conn: AsyncConnection, case_id: int, now: datetime
    ) -> list[datetime]:
        """A safety or extortion reason just appeared: nothing of this case waits anymore."""
        held = [r for r in await reminders.pending_of_case(conn, case_id) if not r.urgent]
        changes = [Retimed(r.id, urgent=True, fire_at=r.remind_at) for r in held]
        await reminders.retime(conn, changes, now)
        return [change.fire_at for change in changes]

    # ---- the victim's side: buttons and commands -----------------------------------

    async def route(
        self, conn: AsyncConnection, inbound: Inbound, now: datetime
    ) -> DeskAnswer | Inbound:
        """Answer reminder buttons, /reminders and /quiet; pass everything else on.

        "Done" on the reminder of the item the victim is at becomes that item's own
        Done press, so the flow ticks it off and moves on as usual.
        """
        if inbound.kind is InboundKind.COMMAND and inbound.command.lower() in COMMANDS:
            return await self._command(conn, inbound, now)
        if inbound.kind is not InboundKind.BUTTON:
            return inbound
        press = parse_button(inbound.button_data)
        if isinstance(press, QuietPress):
            return await self._set_quiet(conn, inbound, press.on, now)
        if isinstance(press, Press):
            return await self._press(conn, inbound, press, now)
        return inbound

    async def _command(self, conn: AsyncConnection, inbound: Inbound, now: datetime) -> DeskAnswer:
        if inbound.command.lower() == "quiet":
            wanted = inbound.args.strip().lower()
            if wanted in ("on", "off"):
                return await self._set_quiet(conn, inbound, wanted == "on", now)
            locale, quiet = await self._person(conn, inbound)
            status = self.texts.quiet_status(locale, quiet, offered=self.policy.quiet.enabled)
            return DeskAnswer(None, (status,))
        locale, quiet = await self._person(conn, inbound)
        identity = inbound.identity
        pending = await reminders.pending_for_person(
            conn, identity.platform, identity.user_id, LISTED
        )
        listing = self.texts.listing(
            locale, pending, quiet, offered=self.policy.quiet.enabled, now=now
        )
        return DeskAnswer(None, (listing,))

    async def _person(self, conn: AsyncConnection, inbound: Inbound) -> tuple[str, QuietHours]:
        identity = inbound.identity
        locale = await reminders.person_locale(conn, identity.platform, identity.user_id)
        on = await reminders.quiet_hours(conn, identity.platform, identity.user_id)
        return locale or self.default_locale, self.policy.quiet_for(on)

    async def _set_quiet(
        self, conn: AsyncConnection, inbound: Inbound, on: bool, now: datetime
    ) -> DeskAnswer:
        locale, _ = await self._person(conn, inbound)
        if not self.policy.quiet.enabled:
            return DeskAnswer(None, (self.texts.plain(locale, "quiet_unavailable"),))
        identity = inbound.identity
        await reminders.set_quiet_hours(conn, identity.platform, identity.user_id, on=on, now=now)
        quiet = self.policy.quiet_for(on)
        pending = await reminders.pending_for_person(
            conn, identity.platform, identity.user_id, limit=None
        )
        changes = [
            Retimed(
                r.id,
                urgent=False,
                fire_at=self.policy.fire_time(r.remind_at, urgent=False, quiet=quiet),
            )
            for r in pending
            if not r.urgent
        ]
        await reminders.retime(conn, changes, now)
        status = self.texts.quiet_status(locale, quiet, offered=True)
        return DeskAnswer(None, (status,), tuple(c.fire_at for c in changes))

    async def _press(
        self, conn: AsyncConnection, inbound: Inbound, press: Press, now: datetime
    ) -> DeskAnswer | Inbound:
        reminder = await reminders.get(conn, press.reminder_id)
        identity = inbound.identity
        if reminder is None or (reminder.platform, reminder.user_id) != (
            identity.platform,
            identity.user_id,
        ):
            # Someone else's reminder is answered exactly like one that does not exist.
            locale, _ = await self._person(conn, inbound)
            return DeskAnswer(None, (self.texts.plain(locale, "unknown"),))
        if reminder.state not in reminders.OPEN_STATES:
            return self._say(reminder, "closed")
        if reminder.rounds != press.rounds:
            return self._say(reminder, "stale")
        if press.action is Action.DONE:
            return await self._done(conn, inbound, reminder, now)
        if press.action is Action.NOT_RELEVANT:
            return await self._not_relevant(conn, inbound, reminder, now)
        return await self._snooze(conn, reminder, press.action, now)

    def _say(self, reminder: Reminder, key: str) -> DeskAnswer:
        return DeskAnswer(reminder.case_id, (self.texts.plain(reminder.locale, key),))

    async def _not_relevant(
        self, conn: AsyncConnection, inbound: Inbound, reminder: Reminder, now: datetime
    ) -> DeskAnswer | Inbound:
        """Not relevant: its reminders end, and an item still waiting on the checklist is
        skipped there too (the flow moves on), so /start no longer promises a check-in."""
        await reminders.dismiss_item(conn, reminder, now)
        if reminder.mode != AFTER_DONE:
            case = await cases.find_open(conn, reminder.platform, reminder.user_id)
            if (
                case is not None
                and case.id == reminder.case_id
                and _current_item(case) == reminder.item_id
            ):
                return replace(inbound, button_data=f"{case.prompt_seq}:i:{reminder.item_id}=skip")
        return self._say(reminder, "dismissed")

    async def _done(
        self, conn: AsyncConnection, inbound: Inbound, reminder: Reminder, now: datetime
    ) -> DeskAnswer | Inbound:
        if reminder.mode == AFTER_DONE:
            await reminders.close(conn, reminder, state="done", now=now)
            return self._say(reminder, "done")
        case = await cases.find_open(conn, reminder.platform, reminder.user_id)
        if (
            case is not None
            and case.id == reminder.case_id
            and _current_item(case) == reminder.item_id
        ):
            data = f"{case.prompt_seq}:i:{reminder.item_id}=done"
            return replace(inbound, button_data=data)
        await reminders.close_items(
            conn, reminder.case_id, (reminder.item_id,), mode=UNTIL_DONE, state="done", now=now
        )
        return self._say(reminder, "done")

    async def _snooze(
        self, conn: AsyncConnection, reminder: Reminder, action: Action, now: datetime
    ) -> DeskAnswer:
        quiet = self.policy.quiet_for(
            await reminders.quiet_hours(conn, reminder.platform, reminder.user_id)
        )
        remind_at = self.policy.snooze_until(action, now, quiet)
        fire_at = self.policy.fire_time(remind_at, urgent=reminder.urgent, quiet=quiet)
        if not await reminders.snooze(
            conn, reminder, remind_at=remind_at, fire_at=fire_at, now=now
        ):
            return self._say(reminder, "stale")
        reply = self.texts.snoozed(reminder.locale, fire_at, now)
        return DeskAnswer(reminder.case_id, (reply,), (fire_at,))


def _current_item(case: CaseRecord) -> str | None:
    """The checklist item the victim is at: the first open one of the current step."""
    if case.phase != "step":
        return None
    entry = next((e for e in case.checklist if e.step == case.step and e.state == "pending"), None)
    return entry.item_id if entry else None
