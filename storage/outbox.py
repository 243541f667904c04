"""Outbox rows: every outbound message is a row before it is a network call."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import outbox


@dataclass(frozen=True)
class OutboxRow:
    id: int
    platform: str
    chat_id: str
    payload: Mapping[str, Any]
    attempts: int
    case_id: int | None


async def enqueue(
    conn: AsyncConnection,
    *,
    platform: str,
    chat_id: str,
    payload: Mapping[str, Any],
    case_id: int | None,
    now: datetime,
) -> int:
    result = await conn.execute(
        insert(outbox).values(
            platform=platform,
            chat_id=chat_id,
            payload=json.dumps(payload, ensure_ascii=False),
            case_id=case_id,
            created_at=now,
            not_before=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


async def due(
    conn: AsyncConnection, platform: str, now: datetime, limit: int = 100
) -> Sequence[OutboxRow]:
    """Pending rows for one adapter, oldest first, so each chat keeps its order."""
    rows = await conn.execute(
        select(outbox)
        .where(outbox.c.state == "pending", outbox.c.platform == platform)
        .where(outbox.c.not_before <= now)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    return [
        OutboxRow(
            id=row.id,
            platform=row.platform,
            chat_id=row.chat_id,
            payload=json.loads(row.payload),
            attempts=row.attempts,
            case_id=row.case_id,
        )
        for row in rows
    ]


async def mark_sent(
    conn: AsyncConnection, row_id: int, now: datetime, platform_message_id: str = ""
) -> None:
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(state="sent", sent_at=now, platform_message_id=platform_message_id)
    )


async def mark_failed(
    conn: AsyncConnection, row_id: int, *, error: str, retry_at: datetime | None
) -> None:
    """Count a failed attempt; with no retry time left the row becomes a dead letter."""
    values: dict[str, Any] = {"attempts": outbox.c.attempts + 1, "last_error": error[:500]}
    if retry_at is None:
        values["state"] = "dead"
    else:
        values["not_before"] = retry_at
    await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


async def counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
    return {state: int(count) for state, count in rows.all()}
