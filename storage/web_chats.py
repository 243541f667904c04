"""Rows of the web chat: chats found by a recovery code's hash, and their mailboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import web_push
from storage.schema import cases, web_chats, web_mailbox

PLATFORM = "web"


@dataclass(frozen=True)
class WebChatRow:
    chat_id: str
    epoch: int
    passphrase: str


async def create(conn: AsyncConnection, chat_id: str, code_hash: bytes, now: datetime) -> None:
    await conn.execute(
        insert(web_chats).values(chat_id=chat_id, code_hash=code_hash, created_at=now)
    )


async def get(conn: AsyncConnection, chat_id: str) -> WebChatRow | None:
    query = select(web_chats).where(web_chats.c.chat_id == chat_id)
    return _row((await conn.execute(query)).mappings().first())


async def by_code(conn: AsyncConnection, code_hash: bytes) -> WebChatRow | None:
    query = select(web_chats).where(web_chats.c.code_hash == code_hash)
    return _row((await conn.execute(query)).mappings().first())


async def set_passphrase(conn: AsyncConnection, chat_id: str, passphrase: str) -> None:
    await conn.execute(
        update(web_chats).where(web_chats.c.chat_id == chat_id).values(passphrase=passphrase)
    )


async def next_epoch(conn: AsyncConnection, chat_id: str) -> int:
    """Raise the chat's epoch by one; return the new one (-1 for an unknown chat)."""
    await conn.execute(
        update(web_chats).where(web_chats.c.chat_id == chat_id).values(epoch=web_chats.c.epoch + 1)
    )
    found = await get(conn, chat_id)
    return -1 if found is None else found.epoch


async def post(conn: AsyncConnection, chat_id: str, body: str, now: datetime) -> tuple[int, int]:
    """Append a message; its id, and the id of the chat's message before it (0: none)."""
    last = select(func.max(web_mailbox.c.id)).where(web_mailbox.c.chat_id == chat_id)
    previous = (await conn.execute(last)).scalar() or 0
    done = await conn.execute(
        insert(web_mailbox).values(chat_id=chat_id, body=body, created_at=now)
    )
    key = done.inserted_primary_key
    assert key is not None
    return int(key[0]), int(previous)


async def since(
    conn: AsyncConnection, chat_id: str, after: int, limit: int
) -> list[tuple[int, str]]:
    """The chat's messages after id ``after``, oldest first: the newest ``limit`` of them."""
    query = (
        select(web_mailbox.c.id, web_mailbox.c.body)
        .where(web_mailbox.c.chat_id == chat_id, web_mailbox.c.id > after)
        .order_by(web_mailbox.c.id.desc())
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    return [(int(row.id), str(row.body)) for row in reversed(rows)]


async def forget_case(conn: AsyncConnection, case_id: int) -> int:
    """Delete the mailbox of the web chat case ``case_id`` was opened in, and its
    browsers' push subscriptions (personal data, and nothing is left to notify of);
    mailbox rows deleted."""
    chat = select(cases.c.chat_id).where(cases.c.id == case_id, cases.c.platform == PLATFORM)
    done = await conn.execute(delete(web_mailbox).where(web_mailbox.c.chat_id.in_(chat)))
    await web_push.forget_case(conn, case_id)
    return done.rowcount or 0


def _row(found: RowMapping | None) -> WebChatRow | None:
    if found is None:
        return None
    return WebChatRow(str(found["chat_id"]), int(found["epoch"]), str(found["passphrase"]))


async def one(conn: AsyncConnection, chat_id: str, message_id: int) -> str | None:
    query = select(web_mailbox.c.body).where(
        web_mailbox.c.chat_id == chat_id, web_mailbox.c.id == message_id
    )
    found = (await conn.execute(query)).scalar()
    return None if found is None else str(found)
