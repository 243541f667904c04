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
RECENT_KEPT = 10_000  # update ids remembered as taken in


class ConfirmGate:
    """The update ids handed to the application and not yet taken in.

    Polling confirms from the oldest of them; the webhook answers each request once its
    own update is taken in (`adapters.telegram_webhook`).
    """

    def __init__(self) -> None:
        self._open: dict[int, asyncio.Event] = {}
        self._clear = asyncio.Event()
        self._clear.set()
        self.newest = 0  # the highest update id ever returned
        # Recently taken ids, oldest first: a webhook update Telegram sends again because
        # our answer was lost is answered at once instead of being handled twice.
        self._recent: dict[int, None] = {}

    def expect(self, update_ids: Iterable[int]) -> None:
        for update_id in update_ids:
            self._open.setdefault(update_id, asyncio.Event())
            self.newest = max(self.newest, update_id)
        if self._open:
            self._clear.clear()

    def taken(self, update_ids: Iterable[int]) -> None:
        for update_id in update_ids:
            event = self._open.pop(update_id, None)
            if event is not None:
                event.set()
            self._remember(update_id)
        if not self._open:
            self._clear.set()

    def is_open(self, update_id: int) -> bool:
        return update_id in self._open

    def was_taken(self, update_id: int) -> bool:
        return update_id in self._recent

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

    async def until_taken(self, update_id: int, seconds: float) -> bool:
        """Whether one update was taken in within `seconds`."""
        event = self._open.get(update_id)
        if event is None:
            return True
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True

    def _remember(self, update_id: int) -> None:
        self._recent[update_id] = None
        if len(self._recent) > RECENT_KEPT:
            del self._recent[next(iter(self._recent))]


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
