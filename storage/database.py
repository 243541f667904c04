"""The database: one async engine, migrations applied at start, serialised SQLite writes.

SQLite allows one writer at a time; rather than letting concurrent transactions collide
on "database is locked", Haven funnels every transaction through one connection, one at a
time, and transactions that queue up share one durable commit (storage/group_commit.py).
Statements on that connection run without a thread hop (storage/sqlite_connection.py).

PostgreSQL gets an ordinary pool, and may be shared by several Haven instances: what
must happen once across them is claimed in the database itself (storage/coordination.py).
Its password never comes from the URL: it is given here (Haven reads it from
HAVEN_DATABASE_PASSWORD), or asyncpg finds it the way libpq does (a service file named by
``?service=``, ``~/.pgpass``, PGPASSWORD).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage import before_commit, sqlite_connection
from storage.group_commit import GroupCommit

MIGRATIONS = Path(__file__).parent / "migrations"
POSTGRESQL = "postgresql"
# Instances starting together would otherwise run the same migration twice at once.
_MIGRATION_LOCK = 0x48415645_4E4D4947  # "HAVENMIG"
# Connections per instance: a turn holds one for its transaction; the outbox sender, the
# timer and the staff side one each now and then. A fixed pool: connections beyond it
# ("overflow") were closed as soon as they were given back, so under load every turn past
# the pool paid for a new connection (TCP, authentication) and prepared its statements
# again. Work beyond it waits for one; nothing holds one while waiting for a second.
POOL_SIZE = 20
_KEEPALIVES = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


class SchemaError(Exception):
    """The database cannot be used by this version of Haven."""


class Database:
    def __init__(self, engine: AsyncEngine, password: str | None = None) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.is_postgresql = engine.dialect.name == POSTGRESQL
        self.password = password
        self._group = GroupCommit(engine) if self.is_sqlite else None
        # Statements that need no transaction skip BEGIN and COMMIT: on PostgreSQL each is
        # a round trip of its own, as costly as the statement.
        self._unbracketed = (
            None if self.is_sqlite else engine.execution_options(isolation_level="AUTOCOMMIT")
        )

    @classmethod
    def open(cls, url: str, *, password: str | None = None) -> Database:
        """An engine for ``url``; ``password`` is PostgreSQL's, never part of the URL."""
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
            engine = create_async_engine(
                url,
                hide_parameters=True,
                pool_size=POOL_SIZE,
                max_overflow=0,
                async_creator=postgresql_connector(url, password),
            )
        return cls(engine, password)

    async def migrate(self) -> None:
        """Bring the schema to this version's head; refuse a database from a newer one."""
        async with self.engine.begin() as conn:
            if self.is_postgresql:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            await conn.run_sync(_upgrade)

    async def at_head(self) -> bool:
        """Whether the schema is at this version's head (what /readyz asks)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(_is_at_head)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One atomic unit of work; committed on leaving, rolled back on an exception.
        What was put off to its end (storage/before_commit.py) runs just before the
        commit."""
        if self._group is None:
            async with self.engine.begin() as conn, before_commit.collected(conn):
                yield conn
            return
        async with self._group.transaction() as conn, before_commit.collected(conn):
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """For statements that need no transaction around them: reads that need not agree
        with one another, and writes whole in one statement. On PostgreSQL each statement
        commits on its own, with no BEGIN and COMMIT round trips; on SQLite, where those
        cost nothing, they run in a transaction as usual."""
        if self._unbracketed is None:
            async with self.transaction() as conn:
                yield conn
            return
        async with self._unbracketed.connect() as conn:
            yield conn

    async def flush_erased(self) -> bool:
        """After an erasure (or a retention run) has committed: leave no copy of what it
        destroyed in the database's files. Whether the WAL was emptied.

        On SQLite every connection runs with ``secure_delete`` on, so what the erasure
        deleted or overwrote is zeroed in its pages; but the pages as they were before
        still sit in the write-ahead log (and the zeroed ones only there) until a
        checkpoint. This checkpoints the WAL into the database file and truncates it, so a
        copy of ``haven.db`` and ``-wal`` taken a moment later holds none of it. A reader
        holding an older snapshot (an audit under way) can keep the checkpoint from
        completing: then False, and the next checkpoint completes it.

        On PostgreSQL nothing here holds in the same way, and this does nothing. An
        UPDATE or DELETE leaves the old row version as a dead tuple in the table's pages
        until VACUUM reclaims the space, and even then the bytes may stay on disk until
        the page is rewritten; the WAL segments and any WAL archive or base backup keep
        them for as long as they are kept. What protects an erased case there is the
        crypto-shredding (its data key is gone, so its ciphertext is noise) and the
        server's own policy: autovacuum, WAL retention, encrypted storage and backups
        (README: "Erasure and the database files").
        """
        if self._group is None:
            return True
        busy, _frames, _done = await self._group.checkpoint()
        return busy == 0

    async def close(self) -> None:
        if self._group is not None:
            await self._group.close()
        await self.engine.dispose()


def postgresql_connector(url: str, password: str | None) -> Callable[[], Awaitable[Any]]:
    """SQLAlchemy's ``async_creator`` for PostgreSQL: asyncpg given the URL itself, so that
    it resolves what the URL leaves out as libpq does (``?service=`` in a service file,
    ``~/.pgpass``, PG* variables; given as separate arguments, asyncpg would skip the
    service file), plus the password, and keepalives so that a host that vanished without
    closing its connections is noticed in seconds, not hours (its session's locks and
    claims go with it; storage/coordinator.py)."""
    parsed = make_url(url).set(drivername="postgresql")
    dsn = parsed.render_as_string(hide_password=False)
    if not parsed.host and not parsed.database:
        # "postgresql:///?service=…" would name the database "" for asyncpg, and the
        # service file's dbname would be passed over.
        dsn = dsn.replace("postgresql:///", "postgresql://", 1)

    async def connect() -> Any:
        import asyncpg  # loaded by PostgreSQL deployments only

        return await asyncpg.connect(dsn, password=password or None, server_settings=_KEEPALIVES)

    return connect


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


def _is_at_head(connection: Connection) -> bool:
    scripts = ScriptDirectory.from_config(_alembic_config(connection))
    current = MigrationContext.configure(connection).get_current_revision()
    return current == scripts.get_current_head()
