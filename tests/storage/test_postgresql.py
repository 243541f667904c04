"""PostgreSQL as configured in production: found through a libpq service file, never a
password in the URL, the schema brought to its head once however many instances start."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from storage.database import Database
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
