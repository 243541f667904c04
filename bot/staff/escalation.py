"""Escalation: a serious case reaches a person, level by level, until one acknowledges.

A case whose severity reaches the threshold opens an escalation: an alert with
Acknowledge / Take case / Resolve buttons goes to the first level's channels. If nobody
acknowledges within the level's timeout, the next level's channels are alerted and the
first level is told so; the last level repeats at its interval. Acknowledging closes the
escalation (one conditional UPDATE: the first press wins) and edits every alert it posted
to say who and when; the victim hears, in plain words, that someone is on it.

The rows are the timer's source of truth (storage/escalations.py): the reminder scheduler
asks `next_due` when to wake and calls `fire_due`, so steps survive restarts as reminders do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.prompts import Reply
from bot.delivery.outbox import queue_reply
from bot.events import Button, ChatKind, ChatRef
from bot.staff.texts import StaffTexts
from storage import cases, escalations, handling
from storage.cases import CaseRecord
from storage.database import Database
from storage.escalations import EscalationRow

log = logging.getLogger(__name__)

ACK, TAKE, RESOLVE = "ack", "take", "resolve"
BUTTON_PREFIX = "s"
# Reasons raised by the conversation with a staff member (bot/staff/talk.py), not by the
# playbook: the victim asked for a person, or their messages went unanswered.
ASKED_FOR_PERSON = "asked_for_person"
UNANSWERED = "talk_unanswered"


@dataclass(frozen=True)
class Level:
    channels: tuple[ChatRef, ...]
    timeout: timedelta
    repeat: timedelta


@dataclass(frozen=True)
class Raised:
    """What raising a case came to: when the timer must wake, and whether the victim
    should hear that the team was alerted (only when a new alert went out and nobody was
    on the case already: new reasons on an open alert edit it, and are not news to them)."""

    next_at: datetime | None
    tell_victim: bool


@dataclass(frozen=True)
class Closed:
    """What a press or command on an escalation came to."""

    won: bool
    escalation: EscalationRow


def button_data(action: str, target: int) -> str:
    return f"{BUTTON_PREFIX}:{action}:{target}"


def parse_button(data: str) -> tuple[str, int] | None:
    prefix, _, rest = data.partition(":")
    action, _, target = rest.partition(":")
    if prefix != BUTTON_PREFIX or action not in (ACK, TAKE, RESOLVE) or not target.isdigit():
        return None
    return action, int(target)


class Escalator:
    def __init__(self, db: Database, levels: tuple[Level, ...], words: StaffTexts) -> None:
        if not levels:
            raise ValueError("escalation needs at least one level")
        self.db = db
        self.levels = levels
        self.words = words

    @property
    def first_channels(self) -> tuple[ChatRef, ...]:
        return self.levels[0].channels

    @property
    def all_channels(self) -> tuple[ChatRef, ...]:
        return tuple(dict.fromkeys(c for level in self.levels for c in level.channels))

    # ---- opening ------------------------------------------------------------------

    async def raise_for(
        self, conn: AsyncConnection, case: CaseRecord, reasons: tuple[str, ...], now: datetime
    ) -> Raised:
        """Alert the staff about `reasons` of `case`: one alert per escalation, edited in
        place as its reasons grow."""
        current = await escalations.latest_of_case(conn, case.id)
        if current is not None and current.state == escalations.OPEN:
            # Still unacknowledged: the alerts it posted say what is new; its clock runs on.
            await escalations.add_reasons(conn, current, reasons, now)
            refreshed = await escalations.get(conn, current.id)
            assert refreshed is not None
            header = self.words.t("staff.alert_update")
            text = f"{header}\n{self.alert_text(case, refreshed.reasons, now)}"
            await self._edit_alerts(
                conn, refreshed, text, self._buttons(refreshed, acknowledged=False), now
            )
            return Raised(None, tell_victim=False)
        await handling.reopen(conn, case.id)
        opened = await escalations.create(conn, case.id, reasons, now + self.levels[0].timeout, now)
        await self._alert(conn, opened, case, 0, "", now)
        log.warning("case %s escalated: %s", case.id, ",".join(reasons))
        someone_on_it = current is not None and current.state == escalations.ACKNOWLEDGED
        return Raised(opened.next_at, tell_victim=not someone_on_it)

    async def victim_closed(self, conn: AsyncConnection, case: CaseRecord, now: datetime) -> None:
        """The victim closed the case while its alert waits: the alert says so."""
        current = await escalations.latest_of_case(conn, case.id)
        if current is None or current.state != escalations.OPEN:
            return
        line = self.words.t("staff.alert_victim_closed", at=self.words.at(now))
        buttons = self._buttons(current, acknowledged=False)
        for alert in await escalations.alerts(conn, current.id):
            await self._edit_alert(conn, current, alert, f"{alert.text}\n{line}", buttons, now)

    async def _edit_alerts(
        self,
        conn: AsyncConnection,
        row: EscalationRow,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
        now: datetime,
    ) -> None:
        for alert in await escalations.alerts(conn, row.id):
            await self._edit_alert(conn, row, alert, text, buttons, now)

    async def _edit_alert(
        self,
        conn: AsyncConnection,
        row: EscalationRow,
        alert: escalations.AlertRow,
        text: str,
        buttons: tuple[tuple[Button, ...], ...],
        now: datetime,
    ) -> None:
        chat = ChatRef(alert.platform, alert.chat_id, ChatKind.STAFF)
        await queue_reply(
            conn, chat, Reply(text, buttons), row.case_id, now, edit_of_row=alert.outbox_id
        )
        await escalations.set_alert_text(conn, alert.id, text)

    # ---- the timer ----------------------------------------------------------------

    async def fire_due(self, now: datetime, batch: int = 100) -> int:
        """Take every escalation whose step is due one step on; return messages queued."""
        queued = 0
        while True:
            async with self.db.transaction() as conn:
                due = await escalations.due(conn, now, batch)
                for row in due:
                    queued += await self._step(conn, row, now)
            if len(due) < batch:
                return queued

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return await escalations.next_due(conn, after)

    async def _step(self, conn: AsyncConnection, row: EscalationRow, now: datetime) -> int:
        last = len(self.levels) - 1
        level_no = min(row.level, last)
        if level_no < last:
            level_no, rounds = level_no + 1, 1
            wait = self.levels[level_no].timeout
        else:
            rounds = row.rounds + 1
            wait = self.levels[level_no].repeat
        moved = await escalations.advance(
            conn, row, level=level_no, rounds=rounds, next_at=now + wait, now=now
        )
        case = await cases.get(conn, row.case_id)
        if not moved or case is None:
            return 0
        waited = self.words.span(now - row.opened_at)
        if rounds == 1:
            header = self.words.t("staff.alert_escalated", age=waited, level=level_no + 1)
            sent = await self._alert(conn, row, case, level_no, header, now)
            notice = self.words.t(
                "staff.escalated_notice",
                case_id=case.id,
                timeout=self.words.span(self.levels[row.level].timeout),
                level=level_no + 1,
            )
            for channel in self.first_channels:
                await queue_reply(conn, channel, Reply(notice), case.id, now)
            log.warning("case %s: escalation moved to level %d", case.id, level_no + 1)
            return sent + len(self.first_channels)
        header = self.words.t("staff.alert_repeat", age=waited)
        return await self._alert(conn, row, case, level_no, header, now)

    # ---- closing ------------------------------------------------------------------

    async def close(
        self,
        conn: AsyncConnection,
        escalation_id: int,
        *,
        state: str,
        by: str,
        now: datetime,
        tell_victim: bool = True,
    ) -> Closed | None:
        """Acknowledge or resolve; None when there is no such escalation. `tell_victim`
        is False when the victim already hears more (a person is talking with them)."""
        won = await escalations.close(conn, escalation_id, state=state, by=by, now=now)
        row = await escalations.get(conn, escalation_id)
        if row is None:
            return None
        if won:
            await self._mark_alerts(conn, row, now)
            if state == escalations.ACKNOWLEDGED and tell_victim:
                await self._tell_victim(conn, row.case_id, "ui.staff_on_it", now)
        return Closed(won, row)

    async def resolve_case(
        self, conn: AsyncConnection, case_id: int, *, by: str, now: datetime
    ) -> None:
        """The case is resolved: stop its chain, show so on its alerts, tell the victim."""
        await self._tell_victim(conn, case_id, "talk.victim_resolved", now)
        row = await escalations.latest_of_case(conn, case_id)
        if row is None:
            return
        if row.state == escalations.OPEN:
            await self.close(conn, row.id, state=escalations.RESOLVED, by=by, now=now)
            return
        await escalations.mark_resolved(conn, case_id, now=now)
        await self._mark_alerts(conn, row, now, resolved_by=by)

    async def _mark_alerts(
        self, conn: AsyncConnection, row: EscalationRow, now: datetime, resolved_by: str = ""
    ) -> None:
        """Edit every alert the escalation posted to show how it ended. With `resolved_by`,
        `row` is as read before the case was resolved: acknowledged, or ended already by
        the case's erasure, whose `closed_by` is the eraser and no acknowledger."""
        words = self.words
        lines = []
        acknowledged = row.state == escalations.ACKNOWLEDGED
        if acknowledged:
            when = words.at(row.closed_at or now)
            lines.append(words.t("staff.acknowledged_by", who=words.who(row.closed_by), at=when))
        resolver = resolved_by or (row.closed_by if not acknowledged else "")
        buttons: tuple[tuple[Button, ...], ...] = ()
        if resolver:
            lines.append(words.t("staff.resolved_by", who=words.who(resolver), at=words.at(now)))
        else:
            buttons = self._buttons(row, acknowledged=True)
        suffix = "\n".join(lines)
        for alert in await escalations.alerts(conn, row.id):
            chat = ChatRef(alert.platform, alert.chat_id, ChatKind.STAFF)
            reply = Reply(f"{alert.text}\n{suffix}", buttons)
            await queue_reply(conn, chat, reply, row.case_id, now, edit_of_row=alert.outbox_id)

    async def _tell_victim(
        self, conn: AsyncConnection, case_id: int, key: str, now: datetime
    ) -> None:
        case = await cases.get(conn, case_id)
        if case is None or case.status == "closed":
            return
        chat = ChatRef(case.platform, case.chat_id, ChatKind.PRIVATE)
        await queue_reply(conn, chat, Reply(self.words.victim(case.locale, key)), case.id, now)

    # ---- alerts -------------------------------------------------------------------

    def alert_text(self, case: CaseRecord, reasons: tuple[str, ...], now: datetime) -> str:
        words = self.words
        return words.t(
            "staff.alert",
            case_id=case.id,
            severity=words.severity(case.severity),
            reasons=words.reasons(reasons),
            step=words.step(case.step),
            age=words.span(now - case.created_at),
            locale=words.language(case.locale),
            via=words.platform(case.platform),
        )

    def _buttons(self, row: EscalationRow, *, acknowledged: bool) -> tuple[tuple[Button, ...], ...]:
        # An alert raised because the person asked for one leads straight to talking.
        label = "staff.btn_talk" if ASKED_FOR_PERSON in row.reasons else "staff.btn_take"
        take = Button(self.words.t(label), button_data(TAKE, row.case_id))
        resolve = Button(self.words.t("staff.btn_resolve"), button_data(RESOLVE, row.case_id))
        if acknowledged:
            return ((take, resolve),)
        ack = Button(self.words.t("staff.btn_ack"), button_data(ACK, row.id))
        return ((ack, take, resolve),)

    async def _alert(
        self,
        conn: AsyncConnection,
        row: EscalationRow,
        case: CaseRecord,
        level_no: int,
        header: str,
        now: datetime,
    ) -> int:
        body = self.alert_text(case, row.reasons, now)
        text = f"{header}\n{body}" if header else body
        buttons = self._buttons(row, acknowledged=False)
        channels = self.levels[level_no].channels
        for channel in channels:
            outbox_id = await queue_reply(conn, channel, Reply(text, buttons), case.id, now)
            await escalations.add_alert(
                conn,
                row.id,
                level=level_no,
                outbox_id=outbox_id,
                platform=channel.platform,
                chat_id=channel.chat_id,
                text=text,
                now=now,
            )
        return len(channels)
