"""Rate limits of the web chat: per address, per chat, open connections, and the backoff
after wrong recovery codes. Kept in memory, bounded: a restart forgets them, which only
ever gives a person back their full allowance.

Each table remembers at most `max_keys` keys; past that the least recently used key is
forgotten, so a flood of addresses cannot grow memory without end.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Now = Callable[[], float]
MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """A token bucket per key: `burst` at once, then `per_minute` a minute."""

    def __init__(
        self, per_minute: float, burst: int, now: Now = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.now = now
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token: 0 when allowed, else the seconds until one is available."""
        now = self.now()
        bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


class Connections:
    """Open live connections (WebSocket or long poll): per address and in all."""

    def __init__(self, per_address: int, total: int) -> None:
        self.per_address = per_address
        self.total = total
        self._open: dict[str, int] = {}
        self._count = 0

    def open(self, address: str) -> bool:
        held = self._open.get(address, 0)
        if held >= self.per_address or self._count >= self.total:
            return False
        self._open[address] = held + 1
        self._count += 1
        return True

    def close(self, address: str) -> None:
        held = self._open.get(address, 0) - 1
        self._count -= 1
        if held <= 0:
            self._open.pop(address, None)
        else:
            self._open[address] = held

    def count(self) -> int:
        return self._count


@dataclass
class _Misses:
    count: int
    blocked_until: float


class Guesses:
    """Wrong recovery codes (or passphrases) from one address: `free` wrong tries, then
    a wait that doubles with each further one, up to `cap_seconds`."""

    def __init__(
        self,
        free: int,
        base_seconds: float,
        cap_seconds: float,
        now: Now = time.monotonic,
        max_keys: int = MAX_KEYS,
    ) -> None:
        self.free = free
        self.base = base_seconds
        self.cap = cap_seconds
        self.now = now
        self.max_keys = max_keys
        self._misses: OrderedDict[str, _Misses] = OrderedDict()

    def wait(self, address: str) -> float:
        """Seconds this address must wait before trying again (0: it may try now)."""
        misses = self._misses.get(address)
        if misses is None:
            return 0.0
        return max(0.0, misses.blocked_until - self.now())

    def missed(self, address: str) -> float:
        """Count a wrong try; return the wait it now costs."""
        misses = self._misses.pop(address, None) or _Misses(0, 0.0)
        misses.count += 1
        over = misses.count - self.free
        wait = 0.0 if over <= 0 else min(self.cap, self.base * 2 ** (over - 1))
        misses.blocked_until = self.now() + wait
        self._misses[address] = misses
        while len(self._misses) > self.max_keys:
            self._misses.popitem(last=False)
        return wait

    def succeeded(self, address: str) -> None:
        self._misses.pop(address, None)
