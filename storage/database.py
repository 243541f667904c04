"""The database: one async engine, migrations applied at start, serialised SQLite writes.

SQLite allows one writer at a time; rather than letting concurrent transactions collide
on "database is locked", Haven funnels every transaction through one connection, one at a
time, and transactions that queue up share one durable commit (storage/group_commit.py).
Statements on that connection run without a thread hop (storage/sqlite_connection.py).
PostgreSQL gets an ordinary pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage import sqlite_connection
from storage.group_commit import GroupCommit

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaError(Exception):
    """The database cannot be used by this version of Haven."""


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._group = GroupCommit(engine) if self.is_sqlite else None

    @classmethod
    def open(cls, url: str) -> Database:
        if url.startswith("sqlite"):
            engine = create_async_engine(
                url,
                # Errors must not carry statement parameters into logs: they can be evidence.
                hide_parameters=True,
                poolclass=StaticPool,
                async_creator=sqlite_connection.connector_for(make_url(url).database or ""),
            )
            event.listen(engine.sync_engine, "connect", sqlite_connection.set_pragmas)
            event.listen(engine.sync_engine, "begin", sqlite_connection.begin_immediate)
        else:
            engine = create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
        return cls(engine)

    async def migrate(self) -> None:
        """Bring the schema to this version's head; refuse a database from a newer one."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One atomic unit of work; committed on leaving, rolled back on an exception."""
        if self._group is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._group.transaction() as conn:
            yield conn

    async def close(self) -> None:
        if self._group is not None:
            await self._group.close()
        await self.engine.dispose()


def _alembic_config(connection: Connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = _alembic_config(connection)
    scripts = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_revision()
    known = {revision.revision for revision in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaError(
            f"the database schema ({current}) is newer than this Haven knows "
            f"(latest {scripts.get_current_head()}); upgrade Haven or use another data directory"
        )
    command.upgrade(config, "head")
