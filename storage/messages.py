"""The message log: what came in and went out, without its content.

Content is not kept here on purpose: free text can be as sensitive as evidence, and only
the evidence vault encrypts. The log is what makes a platform's redelivery harmless.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, exists, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.prepared import Prepared
from storage.schema import message_log

# Built once: both run for every inbound message.
_SEEN = Prepared(
    select(
        exists().where(
            message_log.c.platform == bindparam("platform"),
            message_log.c.chat_id == bindparam("chat_id"),
            message_log.c.platform_message_id == bindparam("message_id"),
            # The partial index inbound_once's own condition, inline: SQLite then uses the
            # index without preparing the query again on every run (see storage/cases.py).
            message_log.c.direction == literal_column("'in'"),
            message_log.c.platform_message_id != literal_column("''"),
        )
    )
)
_INSERT = Prepared(insert(message_log))


async def seen(conn: AsyncConnection, platform: str, chat_id: str, message_id: str) -> bool:
    if not message_id:
        return False
    found = await _SEEN.rows(
        conn, {"platform": platform, "chat_id": chat_id, "message_id": message_id}
    )
    return bool(found[0][0])


async def record(
    conn: AsyncConnection,
    *,
    case_id: int | None,
    platform: str,
    chat_id: str,
    direction: str,
    kind: str,
    message_id: str,
    now: datetime,
) -> None:
    await _INSERT.run(
        conn,
        {
            "case_id": case_id,
            "platform": platform,
            "chat_id": chat_id,
            "direction": direction,
            "kind": kind,
            "platform_message_id": message_id,
            "created_at": now,
        },
    )
