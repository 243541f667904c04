"""The staff's view of the case load: open cases, counted and listed in SQL.

Nothing here reads a case's answers, evidence or messages: only its number, severity,
step, age and who handles it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import case_handling, cases, escalations

_SEVERITY_ORDER = case(
    (cases.c.severity == "critical", 0), (cases.c.severity == "high", 1), else_=2
)
_OPEN_CASES = cases.outerjoin(case_handling, case_handling.c.case_id == cases.c.id)
_IS_OPEN = and_(cases.c.status != "closed", case_handling.c.resolved_at.is_(None))


@dataclass(frozen=True)
class CaseLine:
    case_id: int
    severity: str
    step: int
    created_at: datetime
    assignee: str
    unacknowledged: bool
    closed: bool = False  # by the victim, while an alert of it still waits


@dataclass(frozen=True)
class OpenCount:
    severity: str
    step: int
    count: int


def _unacknowledged() -> Select[tuple[int]]:
    return select(escalations.c.id).where(
        escalations.c.case_id == cases.c.id, escalations.c.state == "open"
    )


async def open_lines(conn: AsyncConnection, limit: int) -> tuple[list[CaseLine], int]:
    """The most pressing `limit` open cases (severity, then step, then age) and the total;
    a case the victim closed is listed while an alert of it waits for somebody."""
    listed = or_(_IS_OPEN, _unacknowledged().exists())
    total = await conn.execute(select(func.count()).select_from(_OPEN_CASES).where(listed))
    rows = await conn.execute(
        select(
            cases.c.id,
            cases.c.severity,
            cases.c.step,
            cases.c.created_at,
            func.coalesce(case_handling.c.assignee, ""),
            _unacknowledged().exists(),
            cases.c.status,
        )
        .select_from(_OPEN_CASES)
        .where(listed)
        .order_by(_SEVERITY_ORDER, cases.c.step, cases.c.created_at)
        .limit(limit)
    )
    lines = [
        CaseLine(r[0], r[1], r[2], r[3], r[4], bool(r[5]), closed=r[6] == "closed") for r in rows
    ]
    return lines, int(total.scalar() or 0)


async def open_counts(conn: AsyncConnection) -> list[OpenCount]:
    """Open cases counted by severity (most severe first) and step."""
    rows = await conn.execute(
        select(cases.c.severity, cases.c.step, func.count())
        .select_from(_OPEN_CASES)
        .where(_IS_OPEN)
        .group_by(cases.c.severity, cases.c.step)
        .order_by(func.min(_SEVERITY_ORDER), cases.c.step)
    )
    return [OpenCount(r[0], r[1], r[2]) for r in rows]
