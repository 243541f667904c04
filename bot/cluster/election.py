"""One receiver for the platforms that allow only one consumer, elected in PostgreSQL.

Telegram's getUpdates answers one poller per bot (a second gets "409 Conflict"), and a
Slack Socket Mode app's events are spread over its connections. With several instances,
each adapter of that kind is prepared to send everywhere, but receives on one instance
only: the one holding the platform's session advisory lock in its coordination session
(storage/coordinator.py). The others try again every ``retry_seconds``.

Failover: the lock is the leader's PostgreSQL session's. When the leader dies its
connection closes and PostgreSQL releases the lock at once (a vanished host: once the
keepalives give up, about 11 seconds); a standby takes it at its next try and starts
receiving. When the leader's own session is lost (the database unreachable from it), it
stops receiving the moment it notices, before anyone else can be elected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.adapter import ElectedReceiver
from storage.coordination import Scope
from storage.coordinator import Coordinator, CoordinatorLost

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class ReceiverElection:
    def __init__(
        self,
        coordinator: Coordinator,
        platform: str,
        adapter: ElectedReceiver,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.coordinator = coordinator
        self.platform = platform
        self.adapter = adapter
        self.retry_seconds = retry_seconds
        self.leading = asyncio.Event()
        self._lost = asyncio.Event()
        coordinator.on_lost(self._lost.set)

    async def run(self) -> None:
        """Stand by, lead while elected, stand by again; until cancelled."""
        try:
            while True:
                await self.coordinator.wait_alive()
                if await self._elected():
                    await self._lead()
                else:
                    await asyncio.sleep(self.retry_seconds)
        finally:
            if self.leading.is_set():
                await self._step_down()

    async def _elected(self) -> bool:
        self._lost.clear()
        try:
            taken = await self.coordinator.try_locks(Scope.RECEIVER, [self.platform])
        except CoordinatorLost:
            return False
        return self.platform in taken

    async def _lead(self) -> None:
        log.info("%s: elected to receive", self.platform)
        self.leading.set()
        try:
            await self.adapter.start_receiving()
        except Exception:
            log.exception(
                "%s: could not start receiving; letting another instance try", self.platform
            )
            await self._step_down()
            await asyncio.sleep(self.retry_seconds)
            return
        await self._lost.wait()
        log.warning("%s: coordination session lost, no longer receiving", self.platform)
        await self._step_down()

    async def _step_down(self) -> None:
        self.leading.clear()
        with contextlib.suppress(Exception):
            await self.adapter.stop_receiving()
        await self.coordinator.unlock(Scope.RECEIVER, [self.platform])
