"""What the platform adapter tests share: waiting for the core and reading its outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from sqlalchemy import select

from bot.adapter import Adapter, InboundHandler, JournaledIntake
from bot.delivery.outbox import RetryPolicy
from bot.runtime import Haven
from storage import outbox, schema

# The answers that take a new victim through triage into step one.
TRIAGE = (
    "lang:en",
    "ok:",
    "safety=no",
    "extortion=no",
    "minor=no",
    "spread=private_chats",
    "leaked=chats",
    "md:leaked",
    "source=hotel",
)


T = TypeVar("T")


async def until(check: Callable[[], T | None], seconds: float = 30.0) -> T:
    """Poll a condition every few milliseconds: for state outside the fake (the core's),
    where no event announces the change."""
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)
    return found


async def until_outbox_empty(haven: Haven) -> None:
    async def pending() -> int:
        async with haven.db.transaction() as conn:
            return (await outbox.counts(conn)).get("pending", 0)

    deadline = time.monotonic() + 5
    while await pending():
        assert time.monotonic() < deadline, "the outbox did not empty"
        await asyncio.sleep(0.005)


async def outbox_texts(haven: Haven, chat_id: str) -> list[str]:
    """Every text queued for one chat, in order."""
    query = (
        select(schema.outbox.c.payload)
        .where(schema.outbox.c.chat_id == chat_id)
        .order_by(schema.outbox.c.id)
    )
    async with haven.db.transaction() as conn:
        rows = (await conn.execute(query)).scalars().all()
    return [json.loads(payload)["text"] for payload in rows]


async def dead_letters(haven: Haven) -> int:
    async with haven.db.transaction() as conn:
        return (await outbox.counts(conn)).get("dead", 0)


def retry_quickly(haven: Haven) -> None:
    """Retries in milliseconds instead of seconds, so an outage test takes no time."""
    haven.sender.policy = RetryPolicy(attempts=1000, base_seconds=0.005, cap_seconds=0.02)
    haven.sender.idle_poll_seconds = 0.01


@contextlib.asynccontextmanager
async def serving(haven: Haven, adapter: Adapter, core: InboundHandler) -> AsyncIterator[None]:
    """The adapter started with `core` as its handler and the outbox sender running; on
    the way out both are stopped and Haven closed."""
    if isinstance(adapter, JournaledIntake):  # as `haven run` wires it (bot/runtime.py)
        adapter.use_journal(haven.journal.keep)
    sender = asyncio.create_task(haven.sender.run())
    try:
        await adapter.start(core)
        try:
            yield
        finally:
            await adapter.stop()
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await haven.close()
