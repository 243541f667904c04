"""Handing inbound events to the core: in order within a chat, chats side by side.

Each event waits for the one before it in the same chat, so a person's messages are
handled in the order sent, while one slow chat (a large download) holds up nobody else.
Past `max_in_flight` events `hand_over` waits, which slows the adapter's intake.
"""

from __future__ import annotations

import asyncio
import logging

from bot.adapter import InboundHandler
from bot.events import Inbound

log = logging.getLogger(__name__)


class ChatOrder:
    def __init__(self, platform: str, max_in_flight: int) -> None:
        self.platform = platform
        self.handler: InboundHandler | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tails: dict[str, asyncio.Task[None]] = {}

    async def hand_over(self, inbound: Inbound) -> None:
        await self._slots.acquire()
        chat = inbound.chat.chat_id
        task = asyncio.create_task(self._handle_after(self._tails.get(chat), inbound))
        self._tails[chat] = task
        task.add_done_callback(lambda done: self._handled(chat, done))

    async def drain(self) -> None:
        """Until every event handed over so far has been handled."""
        await asyncio.gather(*self._tails.values())

    async def _handle_after(self, previous: asyncio.Task[None] | None, inbound: Inbound) -> None:
        assert self.handler is not None
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await self.handler(inbound)
        except Exception:
            log.exception("%s: the core could not handle a %s", self.platform, inbound.kind)

    def _handled(self, chat: str, task: asyncio.Task[None]) -> None:
        self._slots.release()
        if self._tails.get(chat) is task:
            del self._tails[chat]
