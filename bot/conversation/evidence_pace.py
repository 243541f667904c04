"""A per-person budget for evidence: items and bytes a minute, paced, never dropped.

Forwarding a whole chat is exactly what a victim does (Telegram forwards up to 100
messages at once), so evidence is never refused for coming fast. Each person has two
token buckets holding a minute's budget: a burst up to the budget is kept at once; past
it each item waits until the budget has refilled enough for it, and the person's next
items wait behind it (they are handled in order), which slows the adapter's intake
instead of losing anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.clock import Clock

# The person is told their evidence is being paced at most this often.
NOTICE_EVERY = timedelta(minutes=10)


@dataclass(frozen=True)
class EvidenceBudget:
    items_per_minute: int
    bytes_per_minute: int


class _Bucket:
    def __init__(self, per_minute: float, now: datetime) -> None:
        self.rate = per_minute / 60
        self.capacity = per_minute
        self.tokens = per_minute
        self.stamp = now

    def refill(self, now: datetime) -> None:
        elapsed = max(0.0, (now - self.stamp).total_seconds())
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.stamp = now

    def wait(self, amount: float) -> float:
        """Seconds until `amount` is there; an amount over a minute's budget waits for a
        full bucket (one big file must pass, however small the budget)."""
        short = min(amount, self.capacity) - self.tokens
        # Whole milliseconds, rounded up: a wait too short for a clock to move (floating
        # point leaves a refill a hair short) would have the item wait for ever.
        return 0.0 if short <= 0 else math.ceil(short / self.rate * 1000) / 1000

    def spend(self, amount: float) -> None:
        self.tokens -= min(amount, self.capacity)

    @property
    def full(self) -> bool:
        return self.tokens >= self.capacity


class EvidencePace:
    def __init__(self, clock: Clock, budget: EvidenceBudget) -> None:
        self.clock = clock
        self.budget = budget
        self._buckets: dict[str, tuple[_Bucket, _Bucket]] = {}
        self._told: dict[str, datetime] = {}

    def reserve(self, key: str, size: int) -> float:
        """0 when one item of `size` bytes may be kept now (the budget is then spent),
        else the seconds to wait; nothing is spent when it has to wait."""
        now = self.clock.now()
        items, volume = self._of(key, now)
        items.refill(now)
        volume.refill(now)
        wait = max(items.wait(1), volume.wait(size))
        if wait == 0:
            items.spend(1)
            volume.spend(size)
            self._forget_full(key, now)
        return wait

    def should_tell(self, key: str) -> bool:
        """True once per `NOTICE_EVERY` for a person whose evidence waits."""
        now = self.clock.now()
        last = self._told.get(key)
        if last is not None and now - last < NOTICE_EVERY:
            return False
        self._told[key] = now
        return True

    async def admit(self, key: str, size: int) -> None:
        """Wait until one item may be kept (its budget is then spent)."""
        while (wait := self.reserve(key, size)) > 0:
            await self.clock.sleep(wait)

    def _of(self, key: str, now: datetime) -> tuple[_Bucket, _Bucket]:
        found = self._buckets.get(key)
        if found is None:
            found = self._buckets[key] = (
                _Bucket(self.budget.items_per_minute, now),
                _Bucket(self.budget.bytes_per_minute, now),
            )
        return found

    def _forget_full(self, key: str, now: datetime) -> None:
        """Buckets of people who stopped sending are dropped, so memory does not grow
        with everyone ever seen; a full bucket is the same as a new one."""
        if len(self._buckets) < 1024:
            return
        for other, (items, volume) in list(self._buckets.items()):
            items.refill(now)
            volume.refill(now)
            if other != key and items.full and volume.full:
                del self._buckets[other]
