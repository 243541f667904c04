"""Direct questions about danger signals, as timer rows: waiting, answered or alerted.

A row is written in the same transaction as the turn that asked the question, so it is
never lost; claiming it for the alert is a conditional UPDATE on `state = 'waiting'`, so of
two processes, or of an answer and the timer arriving together, exactly one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import signal_checks

WAITING = "waiting"
ANSWERED = "answered"
ALERTED = "alerted"


@dataclass(frozen=True)
class SignalCheck:
    id: int
    case_id: int
    signal: str
    alert_at: datetime


async def add(
    conn: AsyncConnection, case_id: int, signal: str, *, alert_at: datetime, now: datetime
) -> None:
    await conn.execute(
        insert(signal_checks).values(
            case_id=case_id,
            signal=signal,
            state=WAITING,
            asked_at=now,
            alert_at=alert_at,
            updated_at=now,
        )
    )


async def settle(conn: AsyncConnection, case_id: int, now: datetime) -> None:
    """The person answered (or the question went away): no alert for the case's waiting rows."""
    await conn.execute(
        update(signal_checks)
        .where(signal_checks.c.case_id == case_id, signal_checks.c.state == WAITING)
        .values(state=ANSWERED, updated_at=now)
    )


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[SignalCheck]:
    query = (
        select(
            signal_checks.c.id,
            signal_checks.c.case_id,
            signal_checks.c.signal,
            signal_checks.c.alert_at,
        )
        .where(signal_checks.c.state == WAITING, signal_checks.c.alert_at <= now)
        .order_by(signal_checks.c.alert_at, signal_checks.c.id)
        .limit(limit)
    )
    return [SignalCheck(*row) for row in (await conn.execute(query)).all()]


async def claim(conn: AsyncConnection, check: SignalCheck, now: datetime) -> bool:
    """Mark it alerted; False when it was answered, or claimed elsewhere, meanwhile."""
    result = await conn.execute(
        update(signal_checks)
        .where(signal_checks.c.id == check.id, signal_checks.c.state == WAITING)
        .values(state=ALERTED, updated_at=now)
    )
    return bool(result.rowcount)


async def next_due(conn: AsyncConnection, after: datetime) -> datetime | None:
    query = select(func.min(signal_checks.c.alert_at)).where(
        signal_checks.c.state == WAITING, signal_checks.c.alert_at > after
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found
