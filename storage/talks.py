"""Conversations between a staff member and a victim: who holds them, what was said
(sealed with the case's data key), and when an answer falls due.

Every change of state is a conditional UPDATE on what the caller read, so of two staff
pressing *Take case* at once, or of two processes firing one overdue answer, exactly one
succeeds; the partial unique index keeps one open conversation per case whatever happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.prepared import Prepared
from storage.schema import staff_names, talk_messages, talks
from storage.vault import open_sealed, seal

OPEN = "open"
ENDED = "ended"
VICTIM = "victim"


@dataclass(frozen=True)
class TalkRow:
    id: int
    case_id: int
    staff: str
    display_name: str
    state: str
    opened_at: datetime
    waiting_since: datetime | None
    answer_due_at: datetime | None
    ended_at: datetime | None
    ended_by: str


@dataclass(frozen=True)
class TalkMessage:
    case_id: int
    message_no: int
    author: str
    at: datetime
    sealed: bytes = field(repr=False)

    def text(self, data_key: bytes) -> str:
        """The words; VaultError when the key (erased?) or the ciphertext is wrong."""
        return open_sealed(
            data_key, self.sealed, message_id(self.case_id, self.message_no)
        ).decode()


def message_id(case_id: int, message_no: int) -> str:
    """The message's name in its encryption's associated data: never an item's or a note's."""
    return f"{case_id}-talk-{message_no}"


def _row(row: Mapping[Any, Any]) -> TalkRow:
    return TalkRow(
        id=row["id"],
        case_id=row["case_id"],
        staff=row["staff"],
        display_name=row["display_name"],
        state=row["state"],
        opened_at=row["opened_at"],
        waiting_since=row["waiting_since"],
        answer_due_at=row["answer_due_at"],
        ended_at=row["ended_at"],
        ended_by=row["ended_by"],
    )


# The partial unique index's condition, as the conflict target must name it.
_OPEN_ONLY = text("state = 'open'")

# Built once: every message a victim sends asks whether their case is in a conversation.
_OPEN_OF_CASE = Prepared(
    select(talks).where(talks.c.case_id == bindparam("case_key"), talks.c.state == OPEN)
)


async def open_of_case(conn: AsyncConnection, case_id: int) -> TalkRow | None:
    found = await _OPEN_OF_CASE.mappings(conn, {"case_key": case_id})
    return _row(found[0]) if found else None


async def start(
    conn: AsyncConnection, case_id: int, *, staff: str, display_name: str, now: datetime
) -> TalkRow | None:
    """Open a conversation; None when the case has one already (someone was first).

    The insert gives way to an open conversation (ON CONFLICT on the partial unique
    index), so of two processes taking the case at once neither fails: one holds it.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(talks)
        .values(case_id=case_id, staff=staff, display_name=display_name, state=OPEN, opened_at=now)
        .on_conflict_do_nothing(index_elements=[talks.c.case_id], index_where=_OPEN_ONLY)
    )
    if not (await conn.execute(statement)).rowcount:
        return None
    return await open_of_case(conn, case_id)


async def end(conn: AsyncConnection, talk_id: int, *, by: str, now: datetime) -> bool:
    """Close a conversation; False when it was over already."""
    result = await conn.execute(
        update(talks)
        .where(talks.c.id == talk_id, talks.c.state == OPEN)
        .values(state=ENDED, ended_at=now, ended_by=by, answer_due_at=None, waiting_since=None)
    )
    return bool(result.rowcount)


async def held_by(conn: AsyncConnection, staff: str) -> list[TalkRow]:
    """The open conversations a staff member holds, the one waiting longest first."""
    query = (
        select(talks)
        .where(talks.c.staff == staff, talks.c.state == OPEN)
        .order_by(talks.c.waiting_since.is_(None), talks.c.waiting_since, talks.c.id.desc())
    )
    return [_row(r) for r in (await conn.execute(query)).mappings()]


async def victim_wrote(
    conn: AsyncConnection, talk: TalkRow, *, now: datetime, due: datetime
) -> None:
    """The victim is waiting for an answer from now, due by `due` (an earlier unanswered
    message keeps its own clock: the wait began then)."""
    if talk.waiting_since is not None:
        return
    await conn.execute(
        update(talks)
        .where(talks.c.id == talk.id, talks.c.state == OPEN)
        .values(waiting_since=now, answer_due_at=due)
    )


async def answered(conn: AsyncConnection, talk_id: int) -> None:
    await conn.execute(
        update(talks).where(talks.c.id == talk_id).values(waiting_since=None, answer_due_at=None)
    )


async def due(conn: AsyncConnection, now: datetime, limit: int) -> list[TalkRow]:
    query = (
        select(talks)
        .where(talks.c.state == OPEN, talks.c.answer_due_at <= now)
        .order_by(talks.c.answer_due_at, talks.c.id)
        .limit(limit)
    )
    return [_row(r) for r in (await conn.execute(query)).mappings()]


async def claim_overdue(conn: AsyncConnection, talk: TalkRow) -> bool:
    """Take an overdue answer off the timer (the wait itself goes on until an answer);
    False when another process did, or the answer came meanwhile."""
    result = await conn.execute(
        update(talks)
        .where(
            talks.c.id == talk.id,
            talks.c.state == OPEN,
            talks.c.answer_due_at == talk.answer_due_at,
        )
        .values(answer_due_at=None)
    )
    return bool(result.rowcount)


async def next_due(conn: AsyncConnection, after: datetime) -> datetime | None:
    query = select(func.min(talks.c.answer_due_at)).where(
        talks.c.state == OPEN, talks.c.answer_due_at > after
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def end_for_erasure(conn: AsyncConnection, case_id: int, *, by: str, now: datetime) -> None:
    await conn.execute(
        update(talks)
        .where(talks.c.case_id == case_id, talks.c.state == OPEN)
        .values(state=ENDED, ended_at=now, ended_by=by, answer_due_at=None, waiting_since=None)
    )


# ---- what was said ---------------------------------------------------------------------


async def add_message(
    conn: AsyncConnection,
    data_key: bytes,
    talk: TalkRow,
    *,
    author: str,
    text: str,
    at: datetime,
    leaf_index: int | None = None,
) -> None:
    last = await conn.execute(
        select(func.coalesce(func.max(talk_messages.c.message_no), 0)).where(
            talk_messages.c.case_id == talk.case_id
        )
    )
    number = int(last.scalar_one()) + 1
    await conn.execute(
        insert(talk_messages).values(
            case_id=talk.case_id,
            talk_id=talk.id,
            message_no=number,
            author=author,
            at=at,
            sealed=seal(data_key, text.encode(), message_id(talk.case_id, number)),
            leaf_index=leaf_index,
        )
    )


async def messages(
    conn: AsyncConnection, case_id: int, limit: int
) -> tuple[list[TalkMessage], int]:
    """The latest `limit` messages of the case's conversations, oldest first, and how many."""
    where = talk_messages.c.case_id == case_id
    total = (await conn.execute(select(func.count()).where(where))).scalar() or 0
    rows = await conn.execute(
        select(talk_messages).where(where).order_by(talk_messages.c.message_no.desc()).limit(limit)
    )
    found = [
        TalkMessage(r["case_id"], r["message_no"], r["author"], r["at"], bytes(r["sealed"]))
        for r in rows.mappings()
    ]
    return list(reversed(found)), int(total)


# ---- the names staff show victims ---------------------------------------------------------


async def chosen_name(conn: AsyncConnection, actor: str) -> str:
    query = select(staff_names.c.display_name).where(staff_names.c.actor == actor)
    return str((await conn.execute(query)).scalar() or "")


async def choose_name(conn: AsyncConnection, actor: str, name: str, now: datetime) -> None:
    changed = await conn.execute(
        update(staff_names)
        .where(staff_names.c.actor == actor)
        .values(display_name=name, updated_at=now)
    )
    if not changed.rowcount:
        await conn.execute(
            insert(staff_names).values(actor=actor, display_name=name, updated_at=now)
        )
