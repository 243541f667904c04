"""The SQLite connection under SQLAlchemy: aiosqlite, with the short calls made in place.

aiosqlite runs every call on its own thread and wakes the event loop with the result.
That hop costs far more than the call: a cached INSERT or an indexed SELECT takes
microseconds, while each hop is two thread wake-ups (measured here at 0.1–0.6 ms, more on
a busy machine), and SQLAlchemy makes three or four of them per statement (cursor,
execute, fetch, close). So only the calls that can wait go to the thread:

- ``COMMIT`` of a transaction that changed rows: it waits for fsync;
- ``BEGIN IMMEDIATE`` when another process holds the write lock: it waits up to the
  busy timeout (first tried in place without waiting, which is the usual case);
- closing the connection, which may checkpoint the WAL.

Everything else (statements, fetches, SAVEPOINT, ROLLBACK, a COMMIT with nothing to
write) runs on the event loop's thread. Inside a transaction begun with BEGIN IMMEDIATE
none of those can wait on a lock: the write lock is already held, and WAL readers never
block. The two threads never use the connection at the same time: the caller awaits each
hop before its next call, and ``Database`` lets one transaction run at a time.

Transactions are begun explicitly (the sqlite3 module's own implicit BEGIN is turned off,
as SQLAlchemy's documentation describes for SAVEPOINT support), always IMMEDIATE: a
transaction that reads and then writes can then never fail half-way because another
process wrote in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.data_dir import narrow_if_present, private_file

BEGIN = "BEGIN IMMEDIATE"
BUSY_TIMEOUT_MS = 10_000
SIDE_FILES = ("-wal", "-shm", "-journal")


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, its worker thread kept for the calls that can wait."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        # As SQLAlchemy does for aiosqlite: a forgotten connection must not keep the
        # process alive.
        self._thread.daemon = True
        self._changes_at_begin = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is None:
            return await self._on_thread(fn, *args, **kwargs)
        connection = self._connection
        if fn == connection.commit:
            return await self._commit(connection)
        if fn == connection.close:
            return await self._on_thread(fn, *args, **kwargs)
        if args and args[0] == BEGIN:
            return await self._begin(connection, fn, *args)
        return fn(*args, **kwargs)

    @property
    def in_place(self) -> sqlite3.Connection | None:
        """The sqlite3 connection, for statements run in place (storage/prepared.py)."""
        return self._connection

    async def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE said to SQLite directly (storage/group_commit.py)."""
        connection = self._open_connection()
        await _as_sqlalchemy_fails(BEGIN, self._begin(connection, connection.execute, BEGIN))

    async def commit_writes(self) -> None:
        """COMMIT said to SQLite directly: on the thread when it has writes to make durable."""
        await _as_sqlalchemy_fails("COMMIT", self._commit(self._open_connection()))

    def rollback_in_place(self) -> None:
        connection = self._open_connection()
        if connection.in_transaction:
            connection.rollback()

    def _open_connection(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("the connection is closed")
        return self._connection

    async def _on_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async def on_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the connection's thread: for calls that may wait on the disk."""
        return await self._on_thread(fn, *args)

    async def _begin(
        self, connection: sqlite3.Connection, execute: Callable[..., Any], *args: Any
    ) -> Any:
        try:
            result = execute(*args)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            result = await self._on_thread(_begin_waiting, connection, execute, *args)
        self._changes_at_begin = connection.total_changes
        return result

    async def _commit(self, connection: sqlite3.Connection) -> None:
        if connection.total_changes == self._changes_at_begin:
            connection.commit()  # nothing written, nothing to wait for
            return
        await self._on_thread(connection.commit)


def inline_driver(conn: AsyncConnection) -> InlineConnection | None:
    """The connection under ``conn`` if it is one of these; None for other engines."""
    driver = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    return driver if isinstance(driver, InlineConnection) else None


def inline_sqlite(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The sqlite3 connection under ``conn`` if it is one of these; None for other engines."""
    driver = inline_driver(conn)
    return None if driver is None else driver.in_place


def sqlalchemy_error(sql: str, exc: sqlite3.Error) -> StatementError:
    """What SQLAlchemy would have raised for this sqlite3 error, so that callers see one
    kind of error whichever way a statement ran. Without parameters, which can be evidence."""
    return DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True)


async def _as_sqlalchemy_fails(sql: str, call: Awaitable[Any]) -> None:
    try:
        await call
    except sqlite3.Error as exc:
        raise sqlalchemy_error(sql, exc) from exc


def _begin_waiting(connection: sqlite3.Connection, execute: Callable[..., Any], *args: Any) -> Any:
    """On the worker thread: wait for the write lock as long as the busy timeout allows."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return execute(*args)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


def connector_for(path: str) -> Callable[[], Awaitable[InlineConnection]]:
    """SQLAlchemy's ``async_creator`` for the database file at ``path``."""

    def connect() -> sqlite3.Connection:
        private_database_files(path)
        # isolation_level=None: no implicit BEGIN; see begin_immediate.
        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )

    async def create() -> InlineConnection:
        connection = InlineConnection(connect)
        await connection
        return connection

    return create


def private_database_files(path: str) -> None:
    """The database file made 0600 before SQLite opens it. SQLite gives the WAL and
    shared-memory files it creates the database file's mode, so they are private too;
    ones left at another mode are narrowed. (The database holds plaintext: answers, staff
    notes, senders and file names.)"""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    database = Path(path)
    private_file(database)
    for suffix in SIDE_FILES:
        narrow_if_present(database.with_name(database.name + suffix))


def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a receipt is only sent once its transaction survives a power cut. (NORMAL
    # would survive a crash of the process but not of the machine.)
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # What a transaction deletes or overwrites (an erased case's answers, its wrapped
    # key, a sent message's text) is overwritten with zeros in the page, not left in
    # free space where a copy of the file would still hold it.
    cursor.execute("PRAGMA secure_delete=ON")
    # Calls made in place must never wait: a busy write lock sends BEGIN to the thread.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.close()


def begin_immediate(connection: Connection) -> None:
    """SQLAlchemy's "begin" event: every transaction takes the write lock up front."""
    connection.exec_driver_sql(BEGIN)
