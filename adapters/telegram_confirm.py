"""Telegram counts an update delivered once getUpdates is called with a higher offset;
here that offset never passes an update that has not been taken in.

python-telegram-bot's poller asks for the next batch (confirming the last) as soon as it
has queued the last one, while the application is still working through the queue, so a
stop or crash in between would lose updates Telegram will never send again. Here the
bot's `get_updates` knows which of the updates it returned are not yet taken in (handed
over, and for evidence journaled: see `bot.adapter.JournaledIntake`, or deliberately set
aside) and asks Telegram from the oldest of them: they stay unconfirmed, and when Telegram
sends them again they are left out of what the poller sees. An album's items wait for
the album to be complete, so later updates are fetched meanwhile.

Before each call it waits a moment (`SETTLE_SECONDS`) for the last batch to be taken in,
so that a busy core slows polling instead of having it fetch the same updates again and
again. At shutdown, python-telegram-bot's last call confirms only what was taken in; the
rest is fetched again at the next start, and the message log recognises what was kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from telegram import Update
from telegram.ext import ExtBot

SETTLE_SECONDS = 0.25


class ConfirmGate:
    """The update ids returned to the poller and not yet taken in."""

    def __init__(self) -> None:
        self._open: set[int] = set()
        self._clear = asyncio.Event()
        self._clear.set()
        self.newest = 0  # the highest update id ever returned

    def expect(self, update_ids: Iterable[int]) -> None:
        for update_id in update_ids:
            self._open.add(update_id)
            self.newest = max(self.newest, update_id)
        if self._open:
            self._clear.clear()

    def taken(self, update_ids: Iterable[int]) -> None:
        self._open.difference_update(update_ids)
        if not self._open:
            self._clear.set()

    @property
    def oldest_open(self) -> int | None:
        return min(self._open, default=None)

    async def settle(self, seconds: float) -> None:
        """Until every returned update was taken in, or `seconds` have passed."""
        try:
            async with asyncio.timeout(seconds):
                await self._clear.wait()
        except TimeoutError:
            return


class ConfirmingBot(ExtBot[Any]):
    """python-telegram-bot's bot, whose getUpdates confirms only what was taken in."""

    def __init__(self, *args: Any, gate: ConfirmGate, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._gate = gate

    async def get_updates(
        self, offset: int | None = None, *args: Any, **kwargs: Any
    ) -> tuple[Update, ...]:
        await self._gate.settle(SETTLE_SECONDS)
        oldest = self._gate.oldest_open
        if oldest is not None and offset is not None:
            offset = min(offset, oldest)
        updates = await super().get_updates(offset, *args, **kwargs)
        fresh = tuple(update for update in updates if update.update_id > self._gate.newest)
        self._gate.expect(update.update_id for update in fresh)
        return fresh
