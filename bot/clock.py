"""Time as a dependency, so tests can move it instead of sleeping."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None:
        """Wait this long by this clock."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 1, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        self._now += delta

    def set(self, moment: datetime) -> None:
        self._now = moment

    async def sleep(self, seconds: float) -> None:
        """Moves the clock instead of waiting; other tasks get their turn first."""
        await asyncio.sleep(0)
        self._now += timedelta(seconds=seconds)


def latest_passed(now: datetime, at: time) -> datetime:
    """The latest moment at the clock time ``at`` that is not after ``now`` (both in the
    same zone): "15:30" said at 10:00 is yesterday's 15:30."""
    moment = datetime.combine(now.date(), at, tzinfo=now.tzinfo)
    return moment if moment <= now else moment - timedelta(days=1)
