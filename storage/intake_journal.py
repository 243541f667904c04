"""The intake journal's rows: one per inbound evidence event not yet handled to the end.

A row is written before the event's files are downloaded and deleted in the same
transaction that records the event as handled (storage/messages.py), so after any crash
a row here is an event that may not have been kept yet, and is replayed at start. The
content is stored sealed (see `storage.vault.seal_event`); nothing here reads it.

With several instances, each row names its ``owner``, the instance that journaled it;
an instance replays another's rows only once it has taken them over (`take_over`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import RowMapping, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.prepared import Prepared
from storage.schema import intake_journal

# Built once: every forwarded message or file writes a row and deletes it again.
_ONE_EVENT = (
    intake_journal.c.platform == bindparam("platform_key"),
    intake_journal.c.chat_id == bindparam("chat_key"),
    intake_journal.c.message_id == bindparam("message_key"),
)
_EXISTS = Prepared(select(intake_journal.c.id).where(*_ONE_EVENT))
_INSERT = Prepared(insert(intake_journal))
_FORGET = Prepared(delete(intake_journal).where(*_ONE_EVENT))


@dataclass(frozen=True)
class JournalRow:
    id: int
    platform: str
    chat_id: str
    message_id: str
    master_key_id: str
    sealed: bytes = field(repr=False)
    attempts: int


async def keep(
    conn: AsyncConnection,
    *,
    platform: str,
    chat_id: str,
    message_id: str,
    master_key_id: str,
    sealed: bytes,
    now: datetime,
    owner: str | None = None,
) -> bool:
    """Write the row unless the event is journaled already; True if it was written."""
    if await _exists(conn, platform, chat_id, message_id):
        return False
    await _INSERT.run(
        conn,
        {
            "platform": platform,
            "chat_id": chat_id,
            "message_id": message_id,
            "master_key_id": master_key_id,
            "sealed": sealed,
            "received_at": now,
            "owner": owner,
        },
    )
    return True


async def forget(conn: AsyncConnection, platform: str, chat_id: str, message_id: str) -> None:
    """The event has been handled: its row goes (in the transaction that says so)."""
    await _FORGET.run(conn, _event_key(platform, chat_id, message_id))


async def drop(conn: AsyncConnection, row_id: int) -> None:
    await conn.execute(delete(intake_journal).where(intake_journal.c.id == row_id))


async def waiting(conn: AsyncConnection, platform: str) -> list[JournalRow]:
    """The platform's unhandled events, oldest first."""
    query = (
        select(intake_journal)
        .where(intake_journal.c.platform == platform)
        .order_by(intake_journal.c.id)
    )
    return _journal_rows((await conn.execute(query)).mappings().all())


async def owners(conn: AsyncConnection, platform: str) -> set[str | None]:
    """The instances with unhandled events of the platform (None: rows without one)."""
    query = select(intake_journal.c.owner).where(intake_journal.c.platform == platform)
    return {row[0] for row in await conn.execute(query.distinct())}


async def take_over(
    conn: AsyncConnection, platform: str, gone: str | None, owner: str
) -> list[JournalRow]:
    """The platform's rows of instance ``gone`` (None: rows without an owner) become
    ``owner``'s; returned oldest first."""
    was = intake_journal.c.owner.is_(None) if gone is None else intake_journal.c.owner == gone
    where = (intake_journal.c.platform == platform, was)
    query = select(intake_journal).where(*where).order_by(intake_journal.c.id)
    rows = _journal_rows((await conn.execute(query)).mappings().all())
    await conn.execute(update(intake_journal).where(*where).values(owner=owner))
    return rows


def _journal_rows(rows: Sequence[RowMapping]) -> list[JournalRow]:
    return [
        JournalRow(
            id=row["id"],
            platform=row["platform"],
            chat_id=row["chat_id"],
            message_id=row["message_id"],
            master_key_id=row["master_key_id"],
            sealed=bytes(row["sealed"]),
            attempts=row["attempts"],
        )
        for row in rows
    ]


async def count(conn: AsyncConnection) -> int:
    rows = (await conn.execute(select(intake_journal.c.id))).all()
    return len(rows)


async def failed(conn: AsyncConnection, platform: str, chat_id: str, message_id: str) -> None:
    """A replay of the event ended in an error (a row that keeps failing is given up on)."""
    await conn.execute(
        update(intake_journal)
        .where(
            intake_journal.c.platform == platform,
            intake_journal.c.chat_id == chat_id,
            intake_journal.c.message_id == message_id,
        )
        .values(attempts=intake_journal.c.attempts + 1)
    )


async def _exists(conn: AsyncConnection, platform: str, chat_id: str, message_id: str) -> bool:
    return bool(await _EXISTS.rows(conn, _event_key(platform, chat_id, message_id)))


def _event_key(platform: str, chat_id: str, message_id: str) -> dict[str, str]:
    return {"platform_key": platform, "chat_key": chat_id, "message_key": message_id}
