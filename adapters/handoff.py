"""Handing inbound events to the core: in order within a chat, chats side by side.

Each event waits for the one before it in the same chat, so a person's messages are
handled in the order sent, while one slow chat (a large download) holds up nobody else.
Past `max_in_flight` events `hand_over` waits, which slows the adapter's intake. With a
journal (see `bot.adapter.JournaledIntake`), `hand_over` returns once the event is
journaled: the adapter may then acknowledge it to the platform.
"""

from __future__ import annotations

import asyncio
import logging

from bot.adapter import InboundHandler
from bot.events import Inbound

log = logging.getLogger(__name__)

# At a stop, events in hand get this long to finish; the rest are cancelled (their
# transactions roll back, and journaled evidence is resumed at the next start). Below
# docker's default stop timeout of 10 s, after which it sends SIGKILL.
STOP_GRACE_SECONDS = 7.0


class ChatOrder:
    def __init__(self, platform: str, max_in_flight: int) -> None:
        self.platform = platform
        self.handler: InboundHandler | None = None
        self.journal: InboundHandler | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def hand_over(self, inbound: Inbound) -> None:
        await self._slots.acquire()
        if self.journal is not None:
            try:
                await self.journal(inbound)
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception:
                # Handled all the same: kept now, only not safe from a crash meanwhile.
                log.exception("%s: a %s could not be journaled", self.platform, inbound.kind)
        chat = inbound.chat.chat_id
        task = asyncio.create_task(self._handle_after(self._tails.get(chat), inbound))
        self._tails[chat] = task
        self._running.add(task)
        task.add_done_callback(lambda done: self._handled(chat, done))

    async def drain(self, grace: float | None = None) -> None:
        """Until every event handed over so far has been handled; with `grace`, those not
        handled within that many seconds are cancelled."""
        running = set(self._running)
        if not running:
            return
        _, late = await asyncio.wait(running, timeout=grace)
        if late:
            log.info("%s: %d event(s) unfinished at the stop", self.platform, len(late))
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

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
        self._running.discard(task)
        if self._tails.get(chat) is task:
            del self._tails[chat]
