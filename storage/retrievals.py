"""Retrieval requests: four-eyes access to one case's evidence, for a window, expiring.

States: `requested` → `approved` (by an admin other than the requester) or `denied`;
`expired` once its time ran out before approval. An approved retrieval is delivered when
`delivered_at` is empty; asking for it again empties it. Transitions are conditional
UPDATEs on the state read, so two admins approving at once cannot both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import retrievals

REQUESTED, APPROVED, DENIED, EXPIRED = "requested", "approved", "denied", "expired"


@dataclass(frozen=True)
class Retrieval:
    id: int
    case_id: int
    requester: str
    window_start: datetime
    window_end: datetime
    reason: str
    state: str
    requested_at: datetime
    expires_at: datetime
    approved_by: str
    approved_at: datetime | None
    delivered_at: datetime | None


async def request(
    conn: AsyncConnection,
    *,
    case_id: int,
    requester: str,
    window: tuple[datetime, datetime],
    reason: str,
    now: datetime,
    expires_at: datetime,
) -> Retrieval:
    result = await conn.execute(
        insert(retrievals).values(
            case_id=case_id,
            requester=requester,
            window_start=window[0],
            window_end=window[1],
            reason=reason,
            state=REQUESTED,
            requested_at=now,
            expires_at=expires_at,
        )
    )
    found = await get(conn, int(result.inserted_primary_key[0]))  # type: ignore[index]
    assert found is not None
    return found


async def get(conn: AsyncConnection, retrieval_id: int) -> Retrieval | None:
    query = select(retrievals).where(retrievals.c.id == retrieval_id)
    row = (await conn.execute(query)).mappings().first()
    return Retrieval(**row) if row else None


async def move(
    conn: AsyncConnection,
    retrieval: Retrieval,
    state: str,
    **values: object,
) -> bool:
    """From the state read to `state`; False when it changed meanwhile."""
    result = await conn.execute(
        update(retrievals)
        .where(retrievals.c.id == retrieval.id, retrievals.c.state == retrieval.state)
        .values(state=state, **values)
    )
    return bool(result.rowcount)


async def expired_ids(conn: AsyncConnection, now: datetime) -> set[int]:
    query = select(retrievals.c.id).where(retrievals.c.expires_at <= now)
    return set((await conn.execute(query)).scalars())


async def undelivered(conn: AsyncConnection, now: datetime) -> list[Retrieval]:
    query = (
        select(retrievals)
        .where(
            retrievals.c.state == APPROVED,
            retrievals.c.delivered_at.is_(None),
            retrievals.c.expires_at > now,
        )
        .order_by(retrievals.c.id)
    )
    return [Retrieval(**row) for row in (await conn.execute(query)).mappings()]


async def mark_delivered(conn: AsyncConnection, retrieval_id: int, now: datetime) -> bool:
    result = await conn.execute(
        update(retrievals)
        .where(retrievals.c.id == retrieval_id, retrievals.c.delivered_at.is_(None))
        .values(delivered_at=now)
    )
    return bool(result.rowcount)


async def redeliver(conn: AsyncConnection, retrieval_id: int) -> None:
    await conn.execute(
        update(retrievals).where(retrievals.c.id == retrieval_id).values(delivered_at=None)
    )


async def approved_windows(
    conn: AsyncConnection, case_id: int, requester: str, now: datetime
) -> list[tuple[datetime, datetime]]:
    """The windows of `requester`'s approved, unexpired retrievals of a case: what they
    may read unmasked."""
    query = select(retrievals.c.window_start, retrievals.c.window_end).where(
        retrievals.c.case_id == case_id,
        retrievals.c.requester == requester,
        retrievals.c.state == APPROVED,
        retrievals.c.expires_at > now,
    )
    return [(start, end) for start, end in await conn.execute(query)]
