"""Rate budgets for outbound messages: token buckets per adapter and per chat.

Time comes from the injected clock, so tests move it instead of sleeping. A clock that
jumps backward restarts the refill instead of freezing it until the clock catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# Full buckets are forgotten now and then; one per chat ever seen would only grow.
_PRUNE_EVERY = 1024


@dataclass(frozen=True)
class RateBudget:
    """An adapter's limits; None means no limit of that kind."""

    global_per_second: float | None = None
    per_chat_per_second: float | None = None
    # Group and staff chats, counted per minute as Telegram publishes it (20 a minute);
    # None: they are paced like any other chat.
    per_group_per_minute: float | None = None


class _Bucket:
    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.stamp = now

    def wait(self) -> float:
        """Seconds until one token is there (0: there is one now)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    @property
    def full(self) -> bool:
        return self.tokens >= self.capacity


class RateLimiter:
    def __init__(self, budget: RateBudget) -> None:
        self.budget = budget
        self._global: _Bucket | None = None
        self._chats: dict[str, _Bucket] = {}
        self._reservations = 0

    def reserve(self, chat_id: str, *, group: bool, now: datetime) -> float:
        """0 when a message to `chat_id` may go now (its budget is then spent), else the
        seconds to wait; nothing is spent when it has to wait."""
        at = now.timestamp()
        buckets = [b for b in (self._global_bucket(at), self._chat_bucket(chat_id, group, at)) if b]
        for bucket in buckets:
            bucket.refill(at)
        wait = max((bucket.wait() for bucket in buckets), default=0.0)
        if wait == 0:
            for bucket in buckets:
                bucket.tokens -= 1
            self._prune(at)
        return wait

    def spent(self, now: datetime) -> dict[str, float]:
        """The chats whose own budget has nothing left now, with the seconds until it has."""
        at = now.timestamp()
        waits = {}
        for chat_id, bucket in self._chats.items():
            bucket.refill(at)
            if wait := bucket.wait():
                waits[chat_id] = wait
        return waits

    def _global_bucket(self, at: float) -> _Bucket | None:
        rate = self.budget.global_per_second
        if rate is not None and self._global is None:
            self._global = _Bucket(rate, max(1.0, rate), at)
        return self._global

    def _chat_bucket(self, chat_id: str, group: bool, at: float) -> _Bucket | None:
        if group and self.budget.per_group_per_minute is not None:
            per_minute = self.budget.per_group_per_minute
            rate, capacity = per_minute / 60, max(1.0, per_minute)
        elif self.budget.per_chat_per_second is not None:
            rate = self.budget.per_chat_per_second
            capacity = max(1.0, rate)
        else:
            return None
        bucket = self._chats.get(chat_id)
        if bucket is None:
            bucket = self._chats[chat_id] = _Bucket(rate, capacity, at)
        return bucket

    def _prune(self, at: float) -> None:
        self._reservations += 1
        if self._reservations % _PRUNE_EVERY:
            return
        for bucket in self._chats.values():
            bucket.refill(at)
        for chat_id in [c for c, b in self._chats.items() if b.full]:
            del self._chats[chat_id]
