"""A per-person budget of messages, so one sender cannot drown the bot for everyone."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from enum import StrEnum

from bot.clock import Clock


class Verdict(StrEnum):
    ALLOW = "allow"
    WARN = "warn"  # the first message over the budget: tell the sender once
    DROP = "drop"


class FloodGuard:
    def __init__(self, clock: Clock, limit: int, window: timedelta) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._seen: dict[str, deque[datetime]] = {}
        self._warned: dict[str, datetime] = {}

    def check(self, key: str) -> Verdict:
        now = self._clock.now()
        times = self._seen.setdefault(key, deque())
        while times and now - times[0] >= self._window:
            times.popleft()
        if len(times) < self._limit:
            times.append(now)
            self._warned.pop(key, None)
            return Verdict.ALLOW
        if key in self._warned:
            return Verdict.DROP
        self._warned[key] = now
        return Verdict.WARN
