"""The two database backends the suite runs on: SQLite in each test's data directory, and
a real PostgreSQL.

Tests that touch the database ask for the ``backend`` fixture (conftest.py), directly or
through ``config``/``haven``; each then runs once per backend. PostgreSQL is one database
created for the session (``haven_test_<random>``), migrated once and dropped at the end;
before each test its tables are emptied and their ids restarted, which costs a few
milliseconds where creating a database would cost a few hundred.

Where it is: ``HAVEN_TEST_POSTGRES`` (a libpq-style URL of a database the tests may use to
create others), by default ``postgresql://postgres@127.0.0.1:5432/postgres``. Without a
reachable server the PostgreSQL half is left out with one line saying so, unless
``CI=true``: CI must never pass without it.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.database import Database

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)
ADMIN_URL_ENV = "HAVEN_TEST_POSTGRES"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOW_TO_RUN = (
    "start PostgreSQL at 127.0.0.1:5432 (trust authentication for user postgres), "
    f"or set {ADMIN_URL_ENV} to a server's URL, and run `make test` again"
)
_STORAGE_TABLE = re.compile(r"^\[storage\]\s*$", re.MULTILINE)

T = TypeVar("T")


def admin_url() -> str:
    return os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _with_database(url: str, name: str, scheme: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme, parts.netloc, f"/{name}", parts.query, ""))


class _Loop:
    """An event loop on its own thread for the session's admin connection: tests run on
    loops of their own, one per test, and an asyncpg connection belongs to one loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def reachable(url: str) -> str | None:
    """None when the server answers; else why not, in a few words."""

    async def probe() -> None:
        connection = await asyncpg.connect(url, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


class PostgresSession:
    """The session's test database: created and migrated once, emptied before each test,
    dropped at the end. Tests that need a database of their own (an empty target for
    `haven migrate`, two deployments side by side) get one from :meth:`fresh`."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.name = f"haven_test_{secrets.token_hex(4)}"
        self.url = _with_database(admin, self.name, "postgresql+asyncpg")
        self._extra: list[str] = []
        self._loop = _Loop()
        self._conn: asyncpg.Connection | None = None
        self._reset_sql = ""
        self._head = ""

    def start(self) -> None:
        self._loop.run(self._create(self.name))
        asyncio.run(_migrate(self.url))
        self._loop.run(self._connect())

    async def _create(self, name: str) -> None:
        connection = await asyncpg.connect(self.admin)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    async def _connect(self) -> None:
        self._conn = await asyncpg.connect(_with_database(self.admin, self.name, "postgresql"))
        tables = await self._conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version' ORDER BY tablename"
        )
        names = ", ".join(f'"{row["tablename"]}"' for row in tables)
        self._reset_sql = f"TRUNCATE {names} RESTART IDENTITY CASCADE"
        self._head = await self._conn.fetchval("SELECT version_num FROM alembic_version")

    def reset(self) -> None:
        """Every table empty and every id starting at 1 again, as in a new SQLite file."""
        assert self._conn is not None
        self._loop.run(self._reset())

    async def _reset(self) -> None:
        assert self._conn is not None
        # A test that ended without closing its engine may still hold connections.
        await self._conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )
        await self._conn.execute(self._reset_sql)
        # A test may have moved the schema's version (as if another Haven migrated it).
        await self._conn.execute("UPDATE alembic_version SET version_num = $1", self._head)

    def fresh(self) -> str:
        """The URL of a new, empty database (no tables), dropped with the session."""
        name = f"{self.name}_{len(self._extra) + 1}"
        self._loop.run(self._create(name))
        self._extra.append(name)
        return _with_database(self.admin, name, "postgresql+asyncpg")

    def stop(self) -> None:
        async def drop() -> None:
            if self._conn is not None:
                await self._conn.close()
            connection = await asyncpg.connect(self.admin)
            try:
                for name in (*self._extra, self.name):
                    await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await connection.close()

        try:
            self._loop.run(drop())
        finally:
            self._loop.close()


async def _migrate(url: str) -> None:
    db = Database.open(url)
    try:
        await db.migrate()
    finally:
        await db.close()


@dataclass(frozen=True)
class Backend:
    """The database a test runs on. ``url`` is None for SQLite in the data directory."""

    name: str
    url: str | None
    session: PostgresSession | None = None

    @property
    def is_postgresql(self) -> bool:
        return self.name == POSTGRESQL

    def database_url(self, sqlite_file: Path) -> str:
        """Where a test's database lives: the session's PostgreSQL, or ``sqlite_file``."""
        return self.url or f"sqlite+aiosqlite:///{sqlite_file}"

    def fresh_url(self, sqlite_file: Path) -> str:
        """A database nothing has touched yet: a new file, or a new PostgreSQL database."""
        if self.session is None:
            return f"sqlite+aiosqlite:///{sqlite_file}"
        return self.session.fresh()

    @asynccontextmanager
    async def migrated(self, sqlite_file: Path, *, fresh: bool = False) -> AsyncIterator[Database]:
        """The test's database (with ``fresh``, one nothing has touched: :meth:`fresh_url`),
        open and at the schema's head; closed afterwards."""
        url = self.fresh_url(sqlite_file) if fresh else self.database_url(sqlite_file)
        database = Database.open(url)
        try:
            await database.migrate()
            yield database
        finally:
            await database.close()

    def config_text(self, text: str) -> str:
        """A config file's text with this backend's database_url in its [storage] table."""
        if self.url is None:
            return text
        line = f'database_url = "{self.url}"'
        if _STORAGE_TABLE.search(text):
            return _STORAGE_TABLE.sub(f"[storage]\n{line}", text, count=1)
        return f"{text}\n[storage]\n{line}\n"


SQLITE_BACKEND = Backend(SQLITE, None)
# The backend of the test running now: make_config and the rigs write it into the config
# files they make, so that `haven` subprocesses use the same database.
active: Backend = SQLITE_BACKEND
