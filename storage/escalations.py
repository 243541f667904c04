"""Escalation rows and the alerts they posted.

States: `open` (nobody has acknowledged yet; `next_at` is when the next step is due),
`acknowledged` and `resolved`. Every step and every close is a conditional UPDATE on
the values the caller read, so of two processes, or two staff pressing one button, exactly
one succeeds and the other can be told who did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.prepared import Prepared
from storage.schema import escalation_alerts, escalations

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"


@dataclass(frozen=True)
class EscalationRow:
    id: int
    case_id: int
    state: str
    level: int
    rounds: int
    reasons: tuple[str, ...]
    next_at: datetime | None
    opened_at: datetime
    closed_by: str
    closed_at: datetime | None


@dataclass(frozen=True)
class AlertRow:
    id: int
    escalation_id: int
    level: int
    outbox_id: int
    platform: str
    chat_id: str
    text: str


def _row(row: Mapping[Any, Any]) -> EscalationRow:
    return EscalationRow(
        id=row["id"],
        case_id=row["case_id"],
        state=row["state"],
        level=row["level"],
        rounds=row["rounds"],
        reasons=tuple(json.loads(row["reasons"])),
        next_at=row["next_at"],
        opened_at=row["opened_at"],
        closed_by=row["closed_by"],
        closed_at=row["closed_at"],
    )


# Built once: every escalation opened runs them, and an escalation storm opens many.
_INSERT = Prepared(insert(escalations))
_GET = Prepared(select(escalations).where(escalations.c.id == bindparam("escalation_key")))
_LATEST_OF_CASE = Prepared(
    select(escalations)
    .where(escalations.c.case_id == bindparam("case_key"))
    .order_by(escalations.c.id.desc())
    .limit(1)
)
_INSERT_ALERT = Prepared(insert(escalation_alerts))
# Each run when a turn raises a case's escalation or edits its alert.
_SET_REASONS = Prepared(update(escalations).where(escalations.c.id == bindparam("escalation_key")))
_ALERTS = Prepared(
    select(escalation_alerts)
    .where(escalation_alerts.c.escalation_id == bindparam("escalation_key"))
    .order_by(escalation_alerts.c.id)
)
_SET_ALERT_TEXT = Prepared(
    update(escalation_alerts).where(escalation_alerts.c.id == bindparam("alert_key"))
)


async def create(
    conn: AsyncConnection,
    case_id: int,
    reasons: Sequence[str],
    next_at: datetime,
    now: datetime,
) -> EscalationRow:
    values = {
        "case_id": case_id,
        "state": OPEN,
        "level": 0,
        "rounds": 1,
        "reasons": json.dumps(list(reasons)),
        "next_at": next_at,
        "opened_at": now,
        "updated_at": now,
    }
    escalation_id = await _INSERT.insert(conn, values)
    found = await get(conn, escalation_id)
    assert found is not None
    return found


async def get(conn: AsyncConnection, escalation_id: int) -> EscalationRow | None:
    return _first(await _GET.mappings(conn, {"escalation_key": escalation_id}))


async def latest_of_case(conn: AsyncConnection, case_id: int) -> EscalationRow | None:
    return _first(await _LATEST_OF_CASE.mappings(conn, {"case_key": case_id}))


def _first(rows: Sequence[Mapping[str, Any]]) -> EscalationRow | None:
    return _row(rows[0]) if rows else None


async def add_reasons(
    conn: AsyncConnection, escalation: EscalationRow, reasons: Sequence[str], now: datetime
) -> None:
    merged = list(dict.fromkeys((*escalation.reasons, *reasons)))
    await _SET_REASONS.run(
        conn,
        {"escalation_key": escalation.id, "reasons": json.dumps(merged), "updated_at": now},
    )


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[EscalationRow]:
    """Open escalations whose step is due, locked until the caller's transaction ends.
    On PostgreSQL rows another instance is stepping are skipped, not waited for; the
    conditional UPDATE in :func:`advance` stays the claim either way."""
    query = (
        select(escalations)
        .where(escalations.c.state == OPEN, escalations.c.next_at <= now)
        .order_by(escalations.c.next_at, escalations.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_row(row) for row in (await conn.execute(query)).mappings()]


async def advance(
    conn: AsyncConnection,
    escalation: EscalationRow,
    *,
    level: int,
    rounds: int,
    next_at: datetime,
    now: datetime,
) -> bool:
    """Move to the next step; False when someone else already did or it was closed."""
    result = await conn.execute(
        update(escalations)
        .where(
            escalations.c.id == escalation.id,
            escalations.c.state == OPEN,
            escalations.c.level == escalation.level,
            escalations.c.rounds == escalation.rounds,
        )
        .values(level=level, rounds=rounds, next_at=next_at, updated_at=now)
    )
    return bool(result.rowcount)


async def close(
    conn: AsyncConnection, escalation_id: int, *, state: str, by: str, now: datetime
) -> bool:
    """Acknowledge or resolve; False when it was no longer open (someone was first)."""
    result = await conn.execute(
        update(escalations)
        .where(escalations.c.id == escalation_id, escalations.c.state == OPEN)
        .values(state=state, closed_by=by, closed_at=now, next_at=None, updated_at=now)
    )
    return bool(result.rowcount)


async def mark_resolved(conn: AsyncConnection, case_id: int, *, now: datetime) -> None:
    """The case was resolved: an acknowledged escalation is over too (its buttons say so).
    It keeps its acknowledger in `closed_by`; who resolved it is on the case's handling."""
    await conn.execute(
        update(escalations)
        .where(escalations.c.case_id == case_id, escalations.c.state == ACKNOWLEDGED)
        .values(state=RESOLVED, updated_at=now)
    )


async def end_for_erasure(conn: AsyncConnection, case_id: int, *, by: str, now: datetime) -> None:
    """The case was erased: no escalation of it may fire again, open or not."""
    await conn.execute(
        update(escalations)
        .where(escalations.c.case_id == case_id, escalations.c.state != RESOLVED)
        .values(state=RESOLVED, closed_by=by, closed_at=now, next_at=None, updated_at=now)
    )


async def next_due(conn: AsyncConnection, after: datetime) -> datetime | None:
    query = select(func.min(escalations.c.next_at)).where(
        escalations.c.state == OPEN, escalations.c.next_at > after
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def open_case_ids(conn: AsyncConnection, limit: int) -> tuple[list[int], int]:
    """Cases with an unacknowledged escalation (oldest first, at most `limit`), and how many."""
    where = escalations.c.state == OPEN
    total = (await conn.execute(select(func.count()).where(where))).scalar() or 0
    ids = await conn.execute(
        select(escalations.c.case_id).where(where).order_by(escalations.c.opened_at).limit(limit)
    )
    return list(ids.scalars()), int(total)


async def add_alert(
    conn: AsyncConnection,
    escalation_id: int,
    *,
    level: int,
    outbox_id: int,
    platform: str,
    chat_id: str,
    text: str,
    now: datetime,
) -> None:
    await _INSERT_ALERT.run(
        conn,
        {
            "escalation_id": escalation_id,
            "level": level,
            "outbox_id": outbox_id,
            "platform": platform,
            "chat_id": chat_id,
            "text": text,
            "created_at": now,
        },
    )


async def alerts(conn: AsyncConnection, escalation_id: int) -> list[AlertRow]:
    return [
        AlertRow(
            id=row["id"],
            escalation_id=row["escalation_id"],
            level=row["level"],
            outbox_id=row["outbox_id"],
            platform=row["platform"],
            chat_id=row["chat_id"],
            text=row["text"],
        )
        for row in await _ALERTS.mappings(conn, {"escalation_key": escalation_id})
    ]


async def set_alert_text(conn: AsyncConnection, alert_id: int, text: str) -> None:
    """An alert was edited in place: later edits start from what it says now."""
    await _SET_ALERT_TEXT.run(conn, {"alert_key": alert_id, "text": text})


async def first_alert_of_case(conn: AsyncConnection, case_id: int) -> AlertRow | None:
    """The first alert of the case's latest escalation that posted one: where the thread
    of a conversation with the victim goes."""
    query = (
        select(escalation_alerts)
        .join(escalations, escalations.c.id == escalation_alerts.c.escalation_id)
        .where(escalations.c.case_id == case_id)
        .order_by(escalations.c.id.desc(), escalation_alerts.c.id)
        .limit(1)
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return AlertRow(
        id=row["id"],
        escalation_id=row["escalation_id"],
        level=row["level"],
        outbox_id=row["outbox_id"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        text=row["text"],
    )
