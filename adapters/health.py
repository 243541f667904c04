"""`/healthz` and `/readyz` for a load balancer or an orchestrator, on their own listener
(``[health] listen``), the same on every instance.

- ``GET /healthz``: 200 while the process serves requests at all (liveness).
- ``GET /readyz``: 200 when every readiness check passes, else 503; the body names each
  check and its result as JSON (``{"database": true, "migrations": true, ...}``),
  nothing else: no versions, hosts or counts for a stranger to read.

The checks are the runtime's (bot/runtime.py): this module only serves them, and holds
no other part of Haven.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Readiness = Callable[[], Awaitable[dict[str, bool]]]
CHECK_SECONDS = 3.0


class HealthServer:
    def __init__(self, host: str, port: int, readiness: Readiness) -> None:
        self.host = host
        self.port = port
        self.readiness = readiness
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        log.info("health checks on %s:%d (/healthz, /readyz)", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                checks = await self.readiness()
        except Exception as exc:  # a check that hangs or breaks means "not ready"
            log.warning("readiness check failed: %s", type(exc).__name__)
            checks = {"checks": False}
        ready = all(checks.values())
        return web.Response(
            status=200 if ready else 503,
            text=json.dumps(checks, sort_keys=True) + "\n",
            content_type="application/json",
        )
