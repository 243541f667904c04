"""The message log seen from an inbound event: was it handled already, and noting that
it now is. A platform that redelivers (Slack's retries, Telegram after a restart) is
recognised by the same (platform, chat, message id) here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.events import Inbound, InboundKind
from storage import intake_journal, messages


async def already_seen(conn: AsyncConnection, inbound: Inbound) -> bool:
    chat = inbound.chat
    return await messages.seen(conn, chat.platform, chat.chat_id, inbound.message_id)


async def record_inbound(
    conn: AsyncConnection, inbound: Inbound, case_id: int | None, now: datetime
) -> None:
    await messages.record(
        conn,
        case_id=case_id,
        platform=inbound.chat.platform,
        chat_id=inbound.chat.chat_id,
        direction="in",
        kind=inbound.kind,
        message_id=inbound.message_id,
        now=now,
    )
    await forget_journaled(conn, inbound)


async def forget_journaled(conn: AsyncConnection, inbound: Inbound) -> None:
    """The event is handled (or needs no handling): its intake journal row, if it has
    one, goes in the same transaction."""
    chat = inbound.chat
    if inbound.kind in (InboundKind.FORWARD, InboundKind.ATTACHMENT) and inbound.message_id:
        await intake_journal.forget(conn, chat.platform, chat.chat_id, inbound.message_id)
