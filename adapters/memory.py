"""An in-memory adapter: the test and benchmark backend, as Errbot has its test backend.

It delivers nothing anywhere; it keeps what the bot sent, per chat, and lets a caller
play a victim by pressing buttons by label or by answer key.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from bot.adapter import DeliveryError, InboundHandler
from bot.events import Button, ChatKind, ChatRef, Identity, Inbound, InboundKind, Outbound

PLATFORM = "memory"


class MemoryAdapter:
    platform = PLATFORM

    def __init__(self, platform: str = PLATFORM, *, uploads_files: bool = False) -> None:
        self.platform = platform
        self.uploads_files = uploads_files
        self.sent: dict[str, list[Outbound]] = defaultdict(list)
        self.fail_next = 0
        self._ids = itertools.count(1)
        self._closed = asyncio.Event()
        self.handler: InboundHandler | None = None

    async def start(self, handler: InboundHandler) -> None:
        self.handler = handler

    async def send(self, message: Outbound) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise DeliveryError("simulated outage")
        self.sent[message.chat.chat_id].append(message)
        return str(next(self._ids))

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        self._closed.set()

    def last(self, chat_id: str) -> Outbound:
        return self.sent[chat_id][-1]

    def last_buttons(self, chat_id: str) -> tuple[Button, ...]:
        for message in reversed(self.sent[chat_id]):
            if message.buttons:
                return tuple(b for row in message.buttons for b in row)
        return ()


def victim_event(
    platform: str, user: str, kind: InboundKind, message_id: str = "", **fields: Any
) -> Inbound:
    """An inbound event from a victim's private chat (chat id = user id)."""
    return Inbound(
        kind=kind,
        identity=Identity(platform, user, user),
        chat=ChatRef(platform, user, ChatKind.PRIVATE),
        received_at=datetime.now(UTC),
        message_id=message_id,
        **fields,
    )
