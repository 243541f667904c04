"""The daily briefing: its schedule rows and the figures it reports, aggregated in SQL.

The next briefing is always a `pending` row. Posting claims it with a conditional UPDATE,
so it is posted once even across restarts or two processes; a briefing that fell due
while Haven was down is still pending at the next start. Every figure is one aggregate
query: the cost does not grow with the rows a briefing would otherwise have to read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.caseload import OpenCount, open_counts
from storage.coordination import insert_or_skip
from storage.custody import ERASE, RETENTION_PREFIX
from storage.escalations import open_case_ids
from storage.reminders import OPEN_STATES
from storage.schema import briefings, cases, custody_events, evidence_items, outbox, reminders

PENDING, POSTED, MISSED = "pending", "posted", "missed"
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Figures:
    new_cases: int
    open_counts: tuple[OpenCount, ...]
    overdue: int
    unacknowledged: int
    unacknowledged_cases: tuple[int, ...]
    evidence_added: int
    reminders_sent: int
    dead_letters: int
    erased_by_retention: int


async def claim_due(conn: AsyncConnection, now: datetime) -> datetime | None:
    """Claim the briefings due by `now`; return the latest one's time (None: none due).

    Several are due only after days offline: one late briefing stands for all of them.
    """
    due = await conn.execute(
        select(briefings.c.id, briefings.c.due_at)
        .where(briefings.c.state == PENDING, briefings.c.due_at <= now)
        .order_by(briefings.c.due_at)
        # Another instance posting them holds them: passed over, not waited for.
        .with_for_update(skip_locked=True)
    )
    rows = due.all()
    if not rows:
        return None
    latest_id, latest_at = rows[-1]
    claimed = await conn.execute(
        update(briefings)
        .where(briefings.c.id == latest_id, briefings.c.state == PENDING)
        .values(state=POSTED, posted_at=now)
    )
    if not claimed.rowcount:
        return None
    await conn.execute(
        update(briefings)
        .where(briefings.c.id.in_([row.id for row in rows[:-1]]), briefings.c.state == PENDING)
        .values(state=MISSED, posted_at=now)
    )
    await conn.execute(
        update(briefings)
        .where(briefings.c.id == latest_id)
        .values(late=bool(now - latest_at > timedelta(minutes=1)))
    )
    found: datetime = latest_at
    return found


async def schedule(conn: AsyncConnection, due_at: datetime, now: datetime) -> None:
    """Make `due_at` the one pending briefing after `now` (the configured time may change)."""
    await conn.execute(
        delete(briefings).where(
            briefings.c.state == PENDING, briefings.c.due_at > now, briefings.c.due_at != due_at
        )
    )
    # Instances scheduling the same moment at once: the first one's row stands.
    await conn.execute(
        insert_or_skip(conn, briefings, ["due_at"]).values(due_at=due_at, state=PENDING, late=False)
    )


async def next_due(conn: AsyncConnection, after: datetime) -> datetime | None:
    query = select(func.min(briefings.c.due_at)).where(
        briefings.c.state == PENDING, briefings.c.due_at > after
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def posted(conn: AsyncConnection) -> list[tuple[datetime, str, bool]]:
    """Every scheduled briefing: when it was due, its state, and whether it came late."""
    rows = await conn.execute(
        select(briefings.c.due_at, briefings.c.state, briefings.c.late).order_by(briefings.c.due_at)
    )
    return [(row.due_at, row.state, row.late) for row in rows]


async def _count(conn: AsyncConnection, table: Table, *where: ColumnElement[bool]) -> int:
    query = select(func.count()).select_from(table).where(*where)
    return int((await conn.execute(query)).scalar() or 0)


async def figures(conn: AsyncConnection, now: datetime, listed: int = 10) -> Figures:
    since = now - DAY
    unacknowledged_ids, unacknowledged = await open_case_ids(conn, listed)
    return Figures(
        new_cases=await _count(conn, cases, cases.c.created_at > since),
        open_counts=tuple(await open_counts(conn)),
        overdue=await _count(
            conn, reminders, reminders.c.state.in_(OPEN_STATES), reminders.c.remind_at <= now
        ),
        unacknowledged=unacknowledged,
        unacknowledged_cases=tuple(unacknowledged_ids),
        evidence_added=await _count(conn, evidence_items, evidence_items.c.received_at > since),
        reminders_sent=await _count(conn, reminders, reminders.c.fired_at > since),
        dead_letters=await _count(conn, outbox, outbox.c.state == "dead"),
        erased_by_retention=await _count(
            conn,
            custody_events,
            custody_events.c.action == ERASE,
            custody_events.c.reason.startswith(RETENTION_PREFIX),
            custody_events.c.at > since,
        ),
    )
