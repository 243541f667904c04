"""Transactions that queue up behind each other on SQLite share one durable commit.

SQLite has one writer at a time, and each durable commit waits for fsync (about a
millisecond on a good disk, several on a busy one). When many victims write at once,
each waiting its turn for its own fsync caps the whole bot at the disk's fsync rate. So
transactions that find others waiting behind them form a group: each runs inside a
SAVEPOINT of one outer transaction (the first member needs none), and the group is
committed once for all.

What each caller sees is unchanged: ``transaction()`` returns only once the outer COMMIT
that holds its writes has succeeded (so a receipt sent afterwards is backed by durable
rows), and raises if that commit fails. A body that raises rolls back to its own
SAVEPOINT: only its own writes are undone, and the group goes on. An error after which
SQLite has already rolled back the whole outer transaction (a full disk, an I/O error)
fails every member still waiting, as each would have failed alone.

The group's BEGIN IMMEDIATE, COMMIT and ROLLBACK are said to SQLite directly: through
SQLAlchemy's transaction objects each cost about as much as a whole message's
statements. SQLAlchemy sees one transaction for as long as the connection is held (its
BEGIN is the first group's); under it, each group is a transaction of SQLite's own.

When a member is done it gives the lock to whoever is waiting, and a task queued behind
them ends the group: the group is every transaction that was ready to run when it
began, much as PostgreSQL groups commits. A group also ends at MAX_MEMBERS members or
MAX_SECONDS of age, which bounds how long its first member waits. A lone transaction
commits one turn of the event loop later than it would alone. Members see the
uncommitted writes of earlier members of their group; that is harmless because nothing
leaves a transaction before its group has committed.

A group also carries a *scope* (:func:`group_scope`): a dict in which a member may leave
what it derived from the rows it wrote, for the next member to reuse instead of reading
those rows back (the evidence log's border, storage/ledger.py). Only this process writes
while a group holds SQLite's write lock, so what the scope holds stays true until writes
are undone: a fresh scope begins with each group and after any rollback to a savepoint,
and none is left once the group ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.sqlite_connection import InlineConnection, inline_driver, inline_sqlite

MAX_MEMBERS = 64
MAX_SECONDS = 0.02
_SCOPE = "haven.group_scope"


class GroupAborted(Exception):
    """SQLite rolled back the whole group's transaction; this member's writes are gone."""


class DatabaseClosed(Exception):
    """A transaction was begun after the database was closed."""


class GroupCommit:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # A SAVEPOINT of a member's own (SQLAlchemy's begin_nested) rolled back undoes
        # writes as the member's does.
        event.listen(engine.sync_engine, "rollback_savepoint", _renew_scope)
        self._lock = asyncio.Lock()
        self._conn: AsyncConnection | None = None
        self._driver: InlineConnection | None = None
        self._open_group = False
        self._members: list[asyncio.Future[None]] = []
        self._opened_at = 0.0
        self._generation = 0
        self._finisher_for = -1
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        await self._lock.acquire()
        if self._closed:
            # Opening anew would race the engine's disposal: statements run in place.
            self._lock.release()
            raise DatabaseClosed("the database is closed")
        try:
            conn = await self._open()
            first = not self._members
            try:
                if first:
                    # Nobody else's writes to protect: no SAVEPOINT, and a failure rolls
                    # back the whole (so far empty) group.
                    yield conn
                else:
                    async with _savepoint(conn, len(self._members)):
                        yield conn
            except BaseException as exc:
                if first:
                    await self._end_group()
                elif not _outer_alive(conn):
                    await self._abort(exc)
                raise
        except BaseException:
            self._hand_over()
            raise
        committed = asyncio.get_running_loop().create_future()
        self._members.append(committed)
        if self._full():
            # Shielded: the commit finishes, and gives the lock back, even if this caller
            # is cancelled meanwhile.
            await asyncio.shield(self._spawn(self._end_and_release()))
        else:
            self._hand_over()
        await asyncio.shield(committed)

    async def checkpoint(self) -> tuple[int, int, int]:
        """End any open group (committing it), then checkpoint the WAL into the database
        file and truncate it: SQLite's (busy, WAL frames, frames checkpointed)."""
        async with self._lock:
            if self._closed:
                raise DatabaseClosed("the database is closed")
            if self._open_group:
                await self._end_group()
            await self._open_idle()
            driver = self._live_driver()
            row = await driver.on_thread(_checkpoint_truncate, driver.in_place)
            return (int(row[0]), int(row[1]), int(row[2]))

    async def _open_idle(self) -> None:
        """The connection, with no group open on it: a fresh one begins the engine's
        transaction (BEGIN IMMEDIATE), which is ended at once, as an empty group is."""
        if self._conn is None:
            await self._open()
            await self._end_group()

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            if self._open_group:
                await self._end_group()
            if self._conn is not None:
                await self._conn.close()
                self._conn, self._driver = None, None

    async def _open(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._engine.connect()
            driver = inline_driver(conn)
            assert driver is not None, "groups are for SQLite"
            try:
                await conn.begin()  # BEGIN IMMEDIATE, by the engine's "begin" event
            except BaseException:
                await conn.close()  # the next transaction starts over with a fresh one
                raise
            self._conn, self._driver = conn, driver
            self._start_group()
        elif not self._open_group:
            await self._live_driver().begin_immediate()
            self._start_group()
        return self._conn

    def _start_group(self) -> None:
        self._open_group = True
        self._opened_at = time.monotonic()
        _new_scope(self._live_conn())

    def _live_conn(self) -> AsyncConnection:
        assert self._conn is not None
        return self._conn

    def _live_driver(self) -> InlineConnection:
        assert self._driver is not None
        return self._driver

    def _full(self) -> bool:
        return (
            len(self._members) >= MAX_MEMBERS or time.monotonic() - self._opened_at >= MAX_SECONDS
        )

    def _hand_over(self) -> None:
        """Let the next waiter in. An open group is ended by a task queued behind everyone
        waiting now, so it never stays open (holding SQLite's write lock) once idle."""
        if self._open_group and self._finisher_for != self._generation:
            self._finisher_for = self._generation
            self._spawn(self._finish(self._generation))
        self._lock.release()

    async def _finish(self, generation: int) -> None:
        async with self._lock:
            if generation == self._generation and self._open_group:
                await self._end_group()

    async def _end_and_release(self) -> None:
        try:
            await self._end_group()
        finally:
            self._lock.release()

    async def _end_group(self) -> None:
        """Commit the group's work (or roll back an empty group) and tell its members."""
        members, was_open = self._members, self._open_group
        self._members, self._open_group = [], False
        self._generation += 1
        if not was_open:
            return
        _end_scope(self._live_conn())
        driver = self._live_driver()
        try:
            if members:
                await driver.commit_writes()
            else:
                driver.rollback_in_place()
        except Exception as exc:  # each member raises it from its own transaction()
            with contextlib.suppress(Exception):
                driver.rollback_in_place()
            _settle(members, exc)
            return
        _settle(members, None)

    async def _abort(self, cause: BaseException) -> None:
        """SQLite ended the outer transaction itself: nobody in the group committed."""
        members, was_open = self._members, self._open_group
        self._members, self._open_group = [], False
        self._generation += 1
        if was_open:
            _end_scope(self._live_conn())
            with contextlib.suppress(Exception):
                self._live_driver().rollback_in_place()
        error = GroupAborted(f"the transaction was rolled back by SQLite: {cause!r}")
        error.__cause__ = cause
        _settle(members, error)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _settle(members: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for member in members:
        if member.done():
            continue
        if error is None:
            member.set_result(None)
        else:
            member.set_exception(error)


@asynccontextmanager
async def _savepoint(conn: AsyncConnection, member: int) -> AsyncIterator[None]:
    """One member's SAVEPOINT, said to SQLite directly: through SQLAlchemy's nested
    transaction it cost two statements' worth of its overhead for every member."""
    raw = inline_sqlite(conn)
    assert raw is not None, "groups are for SQLite"
    name = f"member_{member}"
    raw.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if raw.in_transaction:  # else SQLite has rolled everything back already
            raw.execute(f"ROLLBACK TO {name}")
            raw.execute(f"RELEASE {name}")
            _new_scope(conn)  # what earlier members left may name rows just undone
        raise
    raw.execute(f"RELEASE {name}")


def group_scope(conn: AsyncConnection) -> dict[str, Any] | None:
    """The open group's scope on ``conn`` (see the module's description); None outside
    a group, as on PostgreSQL, where other instances may write between statements."""
    scope: dict[str, Any] | None = conn.info.get(_SCOPE)
    return scope


def _new_scope(conn: AsyncConnection) -> None:
    conn.info[_SCOPE] = {}


def _renew_scope(conn: Connection, _name: str, _context: object) -> None:
    if _SCOPE in conn.info:
        conn.info[_SCOPE] = {}


def _end_scope(conn: AsyncConnection) -> None:
    conn.info.pop(_SCOPE, None)


def _checkpoint_truncate(raw: Any) -> tuple[Any, ...]:
    row = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return tuple(row)


def _outer_alive(conn: AsyncConnection) -> bool:
    raw = inline_sqlite(conn)
    return raw is not None and raw.in_transaction
