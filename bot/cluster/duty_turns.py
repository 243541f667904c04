"""Duties every instance schedules but only one should carry out at a time.

The daily retention round runs inside each instance's scheduler. On PostgreSQL the
round is taken under a session advisory lock (storage/coordinator.py): the instance that
gets it runs the round, one that finds it held skips it, since the holder is doing that
very work. The lock goes with the holder's session, so an instance that dies mid-round
frees it at once.

With the coordination session lost (the database unreachable from this instance, for
now), the round runs anyway: it erases nothing twice (an erasure already done is found
and logged), and skipping it could leave a case kept past its period for a day.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from storage.coordination import Scope
from storage.coordinator import Coordinator, CoordinatorLost


class DutyTurns:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    @asynccontextmanager
    async def turn(self, duty: str) -> AsyncIterator[bool]:
        try:
            taken = duty in await self.coordinator.try_locks(Scope.DUTY, [duty])
        except CoordinatorLost:
            yield True
            return
        try:
            yield taken
        finally:
            if taken:
                await self.coordinator.unlock(Scope.DUTY, [duty])
