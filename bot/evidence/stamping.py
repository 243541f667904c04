"""Getting signed tree heads timestamped, however long the authorities take to answer.

Every head that goes into a bundle or a briefing gets one row per configured authority
(``[evidence] tsa_urls``), written with the head (storage/timestamps.py). An export then
asks at once (:meth:`Stamper.stamp_heads`), so its bundle carries the tokens when the
authorities answer in time. Whatever is still waiting — an authority down, slow or
refusing — is retried by the reminder scheduler, which wakes the stamper like any other
duty: a pass claims the due rows (pushing their next attempt out, so no second pass takes
them) and asks in the background, so a slow authority never holds up a reminder, a
receipt or an intake. Failures back off from one minute to six hours; the daily briefing
says how many heads still wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.evidence.tsa import TsaError, fetch_token
from storage import timestamps
from storage.database import Database
from storage.ledger import SignedHead

log = logging.getLogger(__name__)

BATCH = 50
_FIRST_RETRY = timedelta(minutes=1)
_LAST_RETRY = timedelta(hours=6)


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 … minutes after the ``attempts``-th failure, at most six hours."""
    return min(_FIRST_RETRY * (1 << min(attempts, 16)), _LAST_RETRY)


class Stamper:
    def __init__(self, db: Database, urls: Sequence[str], timeout: float, clock: Clock) -> None:
        self.db = db
        self.urls = tuple(urls)
        self.timeout = timeout
        self.clock = clock
        self._background: set[asyncio.Task[int]] = set()

    @property
    def enabled(self) -> bool:
        return bool(self.urls)

    async def queue(self, conn: AsyncConnection, head: SignedHead, now: datetime) -> None:
        """In the transaction that signed ``head``: a waiting row per authority."""
        if self.urls and head.checkpoint:
            await timestamps.queue(conn, head.id, self.urls, now)

    async def stamp_heads(self, head_ids: Sequence[int]) -> int:
        """Ask now for the waiting timestamps of these heads; how many were obtained."""
        if not self.urls or not head_ids:
            return 0
        async with self.db.transaction() as conn:
            rows = await timestamps.due(conn, self.clock.now(), BATCH, head_ids)
        return await self._ask(rows)

    async def fire_due(self, now: datetime) -> int:
        """The scheduler's duty: claim what is due and ask for it in the background."""
        if not self.urls:
            return 0
        async with self.db.transaction() as conn:
            rows = await timestamps.due(conn, now, BATCH)
            await timestamps.postpone(
                conn, [row.id for row in rows], now + timedelta(seconds=2 * self.timeout)
            )
        if rows:
            task = asyncio.create_task(self._ask(rows))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return 0

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return await timestamps.next_due(conn, after) if self.urls else None

    async def settle(self) -> None:
        """Wait for attempts under way (at shutdown, and in tests)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _ask(self, rows: Sequence[timestamps.Waiting]) -> int:
        if not rows:
            return 0
        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(
                *(self._one(session, row) for row in rows), return_exceptions=False
            )
        now = self.clock.now()
        async with self.db.transaction() as conn:
            for row, (token, error) in zip(rows, results, strict=True):
                if token is not None:
                    await timestamps.stamped(conn, row.id, token, now)
                else:
                    await timestamps.failed(
                        conn, row.id, error, now + retry_delay(row.attempts + 1)
                    )
        return sum(token is not None for token, _ in results)

    async def _one(
        self, session: aiohttp.ClientSession, row: timestamps.Waiting
    ) -> tuple[bytes | None, str]:
        try:
            token = await fetch_token(session, row.tsa_url, row.checkpoint.encode(), self.timeout)
        except TsaError as exc:
            log.warning("timestamp of head %s not obtained yet: %s", row.head_id, exc)
            return None, str(exc)
        return token, ""
