"""What every fake platform API shares: an aiohttp server on 127.0.0.1 with an ephemeral
port, a record of every answered call, and failures on demand — 429 with a retry-after, a
5xx, or a dropped connection — once, or for as long as an outage lasts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    method: str
    params: Mapping[str, Any]
    at: float
    status: int = 200


@dataclass
class Fault:
    """How to fail `count` requests for `methods` (None: every method), once `after`
    matching requests have gone through."""

    methods: frozenset[str] | None
    count: int
    status: int = 500
    retry_after: int | None = None
    drop: bool = False
    after: int = 0

    def applies(self, method: str) -> bool:
        if self.count <= 0 or (self.methods is not None and method not in self.methods):
            return False
        if self.after > 0:
            self.after -= 1
            return False
        self.count -= 1
        return True


@dataclass
class FakeServer:
    """The server half; a fake adds its routes in `routes` and records with `record`."""

    calls: list[Call] = field(default_factory=list)  # every request that got an answer
    failed: list[str] = field(default_factory=list)  # methods failed on purpose
    failed_with: list[int] = field(default_factory=list)  # and the status each got (0: dropped)
    # Called with every recorded call: lets a benchmark react without rescanning `calls`.
    on_call: Callable[[Call], None] | None = None
    port: int = 0
    _faults: list[Fault] = field(default_factory=list)
    _outage: Fault | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    all_methods: frozenset[str] = frozenset()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- what a test does ---------------------------------------------------------

    def fail(
        self,
        *methods: str,
        status: int = 500,
        retry_after: int | None = None,
        drop: bool = False,
        count: int = 1,
        after: int = 0,
    ) -> None:
        """Fail `count` calls of these methods (all when none named) after `after` more
        have succeeded."""
        chosen = frozenset(methods) if methods else None
        self._faults.append(Fault(chosen, count, status, retry_after, drop, after))

    def outage(self, *, status: int = 502, drop: bool = False, spare: Iterable[str] = ()) -> None:
        """Every method except `spare` fails until `restore()`."""
        self._outage = Fault(self.all_methods - set(spare), 1 << 30, status, None, drop)

    def restore(self) -> None:
        self._outage = None

    def requests(self, method: str) -> list[Call]:
        """Every answered call of one method, refused ones included."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, check: Callable[[], T | None], seconds: float = 30.0) -> T:
        """Wait until `check()` returns something truthy; re-checked after every request."""
        async with self._changed, asyncio.timeout(seconds):
            found = await self._changed.wait_for(check)
        assert found
        return found

    # ---- for the fake -------------------------------------------------------------

    def fault_for(self, method: str) -> Fault | None:
        if self._outage is not None and self._outage.applies(method):
            fault: Fault | None = self._outage
        else:
            fault = next((fault for fault in self._faults if fault.applies(method)), None)
        if fault is not None:
            self.failed.append(method)
            self.failed_with.append(0 if fault.drop else 429 if fault.retry_after else fault.status)
            self.notify()
        return fault

    def record(self, call: Call) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)
        self.notify()

    def notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())


def drop(request: web.Request) -> web.Response:
    """Close the connection without an answer, as a crashing proxy would."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)
