"""A direct question about a danger signal that nobody answered reaches the staff.

When Haven is unsure whether a message is a cry for help (or a threat, a demand, a
minor), it asks the person directly. If no answer comes within the configured time, a
person on the staff is alerted, with lower priority than a clear signal: the alert names
the unanswered question, not a crisis. The question's row (storage/signal_checks.py) is
the timer's source of truth, like a reminder's or an escalation's: the reminder scheduler
wakes Haven for it (a `Duty`), so the alert comes once, after a restart too.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.staff.escalation import Escalator
from storage import cases, signal_checks
from storage.cases import CaseRecord
from storage.database import Database

log = logging.getLogger(__name__)

UNANSWERED_PREFIX = "unanswered_"


class UnansweredQuestions:
    def __init__(self, db: Database, escalator: Escalator, wait: timedelta, *, staffed: bool):
        self.db = db
        self.escalator = escalator
        self.wait = wait
        # Without staff to read it, an alert would go nowhere: no timer rows at all.
        self.staffed = staffed

    async def plan(
        self, conn: AsyncConnection, before: CaseRecord, after: CaseRecord, now: datetime
    ) -> datetime | None:
        """Inside a turn's transaction: start the clock on a question just asked, stop it
        on one answered. Returns when the timer must wake, if it must."""
        if before.asking and after.asking != before.asking:
            await signal_checks.settle(conn, after.id, now)
        if not after.asking or after.asking == before.asking or not self.staffed:
            return None
        alert_at = now + self.wait
        await signal_checks.add(conn, after.id, after.asking, alert_at=alert_at, now=now)
        return alert_at

    async def fire_due(self, now: datetime, batch: int = 100) -> int:
        """Alert the staff about every question unanswered by now; return alerts raised."""
        raised = 0
        while True:
            async with self.db.transaction() as conn:
                due = await signal_checks.due(conn, now, batch)
                for check in due:
                    raised += await self._alert(conn, check, now)
            if len(due) < batch:
                return raised

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return await signal_checks.next_due(conn, after)

    async def _alert(
        self, conn: AsyncConnection, check: signal_checks.SignalCheck, now: datetime
    ) -> int:
        if not await signal_checks.claim(conn, check, now):
            return 0
        case = await cases.get(conn, check.case_id)
        if case is None or case.status == "closed" or case.asking != check.signal:
            return 0
        await self.escalator.raise_for(conn, case, (UNANSWERED_PREFIX + check.signal,), now)
        log.warning("case %s: a direct question went unanswered; staff alerted", case.id)
        return 1
