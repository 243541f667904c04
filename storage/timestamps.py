"""RFC 3161 timestamps of signed tree heads: one row per head and authority.

A row is written in the transaction that signs the head, before any authority is asked,
so a timestamp can be late but never forgotten. ``token`` is the authority's DER
response once it answered; until then the row waits with its next attempt's time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import head_timestamps, tree_heads

_ERROR_CHARS = 200


@dataclass(frozen=True)
class Waiting:
    id: int
    head_id: int
    tsa_url: str
    attempts: int
    checkpoint: str


@dataclass(frozen=True)
class Token:
    tsa_url: str
    token: bytes


async def queue(conn: AsyncConnection, head_id: int, urls: Sequence[str], now: datetime) -> None:
    if urls:
        await conn.execute(
            insert(head_timestamps),
            [
                {"head_id": head_id, "tsa_url": url, "next_at": now, "created_at": now}
                for url in urls
            ],
        )


async def due(
    conn: AsyncConnection, now: datetime, limit: int, head_ids: Sequence[int] = ()
) -> list[Waiting]:
    """Rows still without a token whose next attempt is due (or, given ``head_ids``, the
    waiting rows of those heads, due or not)."""
    rows = head_timestamps.c
    query = (
        select(rows.id, rows.head_id, rows.tsa_url, rows.attempts, tree_heads.c.checkpoint)
        .join(tree_heads, tree_heads.c.id == rows.head_id)
        .where(rows.stamped_at.is_(None), tree_heads.c.checkpoint.is_not(None))
        .order_by(rows.next_at, rows.id)
        .limit(limit)
    )
    wanted = rows.head_id.in_(head_ids) if head_ids else rows.next_at <= now
    query = query.where(wanted)
    return [Waiting(*row) for row in await conn.execute(query)]


async def postpone(conn: AsyncConnection, ids: Sequence[int], until: datetime) -> None:
    """Claim rows for an attempt under way: no other pass takes them before ``until``."""
    if ids:
        await conn.execute(
            update(head_timestamps).where(head_timestamps.c.id.in_(ids)).values(next_at=until)
        )


async def stamped(conn: AsyncConnection, row_id: int, token: bytes, now: datetime) -> None:
    await conn.execute(
        update(head_timestamps)
        .where(head_timestamps.c.id == row_id)
        .values(token=token, stamped_at=now, last_error="")
    )


async def failed(conn: AsyncConnection, row_id: int, error: str, retry_at: datetime) -> None:
    await conn.execute(
        update(head_timestamps)
        .where(head_timestamps.c.id == row_id)
        .values(
            attempts=head_timestamps.c.attempts + 1,
            last_error=error[:_ERROR_CHARS],
            next_at=retry_at,
        )
    )


async def tokens_of(conn: AsyncConnection, head_id: int) -> list[Token]:
    rows = head_timestamps.c
    query = (
        select(rows.tsa_url, rows.token)
        .where(rows.head_id == head_id, rows.token.is_not(None))
        .order_by(rows.id)
    )
    return [Token(url, bytes(token)) for url, token in await conn.execute(query)]


async def waiting_count(conn: AsyncConnection) -> int:
    """Heads that still wait for at least one authority's timestamp."""
    rows = head_timestamps.c
    query = select(func.count(func.distinct(rows.head_id))).where(rows.stamped_at.is_(None))
    return int((await conn.execute(query)).scalar_one())


async def next_due(conn: AsyncConnection, after: datetime) -> datetime | None:
    """When the next waiting row's attempt is due, later than ``after``."""
    rows = head_timestamps.c
    query = select(func.min(rows.next_at)).where(rows.stamped_at.is_(None), rows.next_at > after)
    found: datetime | None = (await conn.execute(query)).scalar()
    return found
