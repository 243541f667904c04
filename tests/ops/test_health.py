"""/healthz and /readyz as a load balancer sees them, against a real Haven."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from sqlalchemy import text

from adapters.health import HealthServer
from adapters.memory import MemoryAdapter
from bot.runtime import Haven, readiness


async def probe(session: aiohttp.ClientSession, server: HealthServer, path: str) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{server.port}{path}") as response:
        return response.status, await response.text()


async def test_ready_once_started_and_not_while_the_schema_is_behind(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    core, _ = haven
    started = asyncio.Event()
    server = HealthServer("127.0.0.1", 0, lambda: readiness(core, started))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            assert await probe(session, server, "/healthz") == (200, "ok\n")
            status, body = await probe(session, server, "/readyz")
            assert status == 503 and json.loads(body)["adapters"] is False
            started.set()
            status, body = await probe(session, server, "/readyz")
            assert status == 200, body
            assert set(json.loads(body)) >= {"database", "migrations", "adapters"}
            async with core.db.transaction() as conn:  # as if a newer Haven's schema
                await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            status, body = await probe(session, server, "/readyz")
            assert status == 503 and json.loads(body)["migrations"] is False
    finally:
        await server.stop()
