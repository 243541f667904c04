"""Delivering the outbox: rows become network calls, in order per chat, with retries.

A row is written in the transaction that decided to say something; this sender only
reads rows, calls the adapter and records the result, so a crash at any point leaves the
message either sent or still pending — never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.adapter import Adapter, DeliveryError
from bot.clock import Clock
from bot.events import Button, ChatKind, ChatRef, Outbound
from storage import outbox
from storage.database import Database
from storage.outbox import OutboxRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> timedelta:
        """Exponential backoff with full jitter; a platform's retry-after wins when longer."""
        backoff = min(self.cap_seconds, self.base_seconds * 2**attempt)
        seconds = random.uniform(backoff / 2, backoff)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return timedelta(seconds=seconds)


def to_outbound(row: OutboxRow) -> Outbound:
    payload: Mapping[str, Any] = row.payload
    buttons = tuple(
        tuple(Button(b["label"], b["data"]) for b in line) for line in payload.get("buttons", [])
    )
    chat = ChatRef(row.platform, row.chat_id, ChatKind(payload.get("kind", "private")))
    return Outbound(chat=chat, text=payload.get("text", ""), buttons=buttons)


class OutboxSender:
    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        policy: RetryPolicy | None = None,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.adapters = adapters
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Drain whenever woken, and at least every poll interval for retries."""
        while True:
            self._wake.clear()
            await self.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_poll_seconds)

    async def drain(self) -> int:
        """Send everything due now; return how many messages went out.

        One drain at a time: two concurrent passes would read the same pending rows and
        send them twice.
        """
        sent = 0
        async with self._draining:
            for platform, adapter in self.adapters.items():
                sent += await self._drain_platform(platform, adapter)
        return sent

    async def _drain_platform(self, platform: str, adapter: Adapter) -> int:
        sent = 0
        while True:
            async with self.db.transaction() as conn:
                rows = await outbox.due(conn, platform, self.clock.now())
            if not rows:
                return sent
            blocked: set[str] = set()
            progressed = False
            for row in rows:
                if row.chat_id in blocked:
                    continue
                if await self._deliver(adapter, row):
                    sent += 1
                    progressed = True
                else:
                    blocked.add(row.chat_id)
            if not progressed:
                return sent

    async def _deliver(self, adapter: Adapter, row: OutboxRow) -> bool:
        try:
            message_id = await adapter.send(to_outbound(row))
        except DeliveryError as exc:
            await self._failed(row, str(exc), exc.retry_after)
            return False
        except Exception as exc:  # an adapter bug must not stop delivery to everyone else
            log.exception("adapter %s failed on outbox row %s", row.platform, row.id)
            await self._failed(row, type(exc).__name__, None)
            return False
        async with self.db.transaction() as conn:
            await outbox.mark_sent(conn, row.id, self.clock.now(), message_id)
        return True

    async def _failed(self, row: OutboxRow, error: str, retry_after: float | None) -> None:
        attempt = row.attempts + 1
        retry_at = None
        if attempt < self.policy.attempts:
            retry_at = self.clock.now() + self.policy.delay(attempt, retry_after)
        else:
            log.error("outbox row %s to %s is a dead letter: %s", row.id, row.platform, error)
        async with self.db.transaction() as conn:
            await outbox.mark_failed(conn, row.id, error=error, retry_at=retry_at)
