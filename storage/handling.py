"""Who works a case on the staff side, whether it is resolved, and the staff's notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.prepared import Prepared
from storage.schema import case_handling, staff_notes


@dataclass(frozen=True)
class Handling:
    case_id: int
    assignee: str = ""
    assigned_by: str = ""
    assigned_at: datetime | None = None
    resolved_by: str = ""
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Note:
    id: int
    author: str
    text: str
    at: datetime


async def get(conn: AsyncConnection, case_id: int) -> Handling:
    query = select(case_handling).where(case_handling.c.case_id == case_id)
    row = (await conn.execute(query)).mappings().first()
    return Handling(**row) if row else Handling(case_id)


async def _ensure(conn: AsyncConnection, case_id: int) -> None:
    exists = await conn.execute(
        select(case_handling.c.case_id).where(case_handling.c.case_id == case_id)
    )
    if exists.first() is None:
        await conn.execute(insert(case_handling).values(case_id=case_id))


async def assign(
    conn: AsyncConnection, case_id: int, *, assignee: str, by: str, now: datetime
) -> None:
    await _ensure(conn, case_id)
    await conn.execute(
        update(case_handling)
        .where(case_handling.c.case_id == case_id)
        .values(assignee=assignee, assigned_by=by, assigned_at=now)
    )


async def resolve(conn: AsyncConnection, case_id: int, *, by: str, now: datetime) -> bool:
    """False when the case was resolved already (the earlier resolution stands)."""
    await _ensure(conn, case_id)
    result = await conn.execute(
        update(case_handling)
        .where(case_handling.c.case_id == case_id, case_handling.c.resolved_at.is_(None))
        .values(resolved_by=by, resolved_at=now)
    )
    return bool(result.rowcount)


_REOPEN = Prepared(update(case_handling).where(case_handling.c.case_id == bindparam("case_key")))


async def reopen(conn: AsyncConnection, case_id: int) -> None:
    """A new danger signal on a resolved case puts it back in front of the staff."""
    await _REOPEN.run(conn, {"case_key": case_id, "resolved_by": "", "resolved_at": None})


async def add_note(
    conn: AsyncConnection, case_id: int, *, author: str, text: str, at: datetime, leaf_index: int
) -> None:
    await conn.execute(
        insert(staff_notes).values(
            case_id=case_id, author=author, text=text, at=at, leaf_index=leaf_index
        )
    )


async def notes(conn: AsyncConnection, case_id: int, limit: int) -> tuple[list[Note], int]:
    """The latest `limit` notes, oldest first, and how many there are."""
    where = staff_notes.c.case_id == case_id
    total = (await conn.execute(select(func.count()).where(where))).scalar() or 0
    rows = await conn.execute(
        select(staff_notes.c.id, staff_notes.c.author, staff_notes.c.text, staff_notes.c.at)
        .where(where)
        .order_by(staff_notes.c.id.desc())
        .limit(limit)
    )
    found = [Note(r.id, r.author, r.text, r.at) for r in rows]
    return list(reversed(found)), int(total)
