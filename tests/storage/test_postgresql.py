"""PostgreSQL as configured in production: found through a libpq service file, never a
password in the URL, the schema brought to its head once however many instances start,
a fixed pool of connections, and statements that need no transaction run without one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from storage.database import POOL_SIZE, Database
from tests.backends import Backend

pytestmark = pytest.mark.only_on("postgresql")


async def test_a_service_file_names_the_server_and_the_database(
    tmp_path: Path, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert backend.url is not None
    where = urlsplit(backend.url)
    services = tmp_path / "pg_service.conf"
    services.write_text(
        "[haven]\n"
        f"host={where.hostname}\nport={where.port or 5432}\n"
        f"user={where.username}\ndbname={where.path.lstrip('/')}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    db = Database.open("postgresql+asyncpg:///?service=haven", password="unused-with-trust")
    try:
        assert await db.at_head()
    finally:
        await db.close()


async def test_instances_starting_together_migrate_once(tmp_path: Path, backend: Backend) -> None:
    url = backend.fresh_url(tmp_path / "unused.db")
    instances = [Database.open(url) for _ in range(3)]
    try:
        await asyncio.gather(*(db.migrate() for db in instances))
        assert all([await db.at_head() for db in instances])
    finally:
        for db in instances:
            await db.close()


@pytest.fixture
async def db(tmp_path: Path, backend: Backend) -> AsyncIterator[Database]:
    async with backend.migrated(tmp_path / "unused.db", fresh=True) as database:
        yield database


async def test_statements_outside_a_transaction_commit_each_on_its_own(db: Database) -> None:
    # What the outbox sender's reads and "sent" marks rely on: no BEGIN and COMMIT round
    # trips, and a write seen by everyone at once.
    async with db.autocommit() as conn:
        xids = [(await conn.execute(text("SELECT txid_current()"))).scalar() for _ in "ab"]
        assert xids[0] != xids[1]  # each statement its own transaction
        await conn.execute(text("CREATE TABLE marks (n integer)"))
        await conn.execute(text("INSERT INTO marks VALUES (1)"))
        async with db.transaction() as other:
            assert (await other.execute(text("SELECT count(*) FROM marks"))).scalar() == 1
    async with db.transaction() as conn:
        xids = [(await conn.execute(text("SELECT txid_current()"))).scalar() for _ in "ab"]
        assert xids[0] == xids[1]


async def test_a_busy_instance_keeps_its_connections_rather_than_churning_them(
    db: Database,
) -> None:
    # More turns at once than the pool has connections: they wait for one, and the
    # server sees no connection opened after the first POOL_SIZE.
    opened: list[int] = []

    async def turn() -> None:
        async with db.transaction() as conn:
            opened.append((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())

    for _ in range(3):
        await asyncio.gather(*(turn() for _ in range(3 * POOL_SIZE)))
    assert len(set(opened)) <= POOL_SIZE
