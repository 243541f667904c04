"""One instance's own PostgreSQL session, for what lives as long as a session does.

Several Haven instances share one PostgreSQL database (storage/coordination.py has the
locks that last a transaction). Some things must last longer, and must end by
themselves when an instance dies:

- **Session advisory locks**: the one instance that polls Telegram or holds Slack's
  socket (bot/election.py), and the one sender per chat of the outbox at a time
  (bot/outbox.py). PostgreSQL drops them when the session ends, so a killed instance
  frees everything it held as soon as its connection closes (at once for a killed
  process, whose socket the kernel closes; within the keepalive time, about 11 seconds,
  for a host that vanished).
- **LISTEN/NOTIFY**: an instance that queued work tells the others, so that none waits
  for a poll interval.
- **The instance's identity**: a random name, locked for as long as the session lives
  (taken again on every reconnect). Work an instance marks as its own (journaled
  intake, bot/conversation/intake_journal.py) is another's to take over once that lock
  can be taken: its owner is gone.

All of it runs on one dedicated connection, outside the pool, one call at a time. A
heartbeat notices a connection that stopped answering; then everything held is treated
as lost at once (``on_lost`` callbacks run before anything else can happen), and the
connection is opened anew, listening again, with no locks held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.coordination import Scope
from storage.database import Database, postgresql_connector

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
CALL_TIMEOUT_SECONDS = 5.0
RECONNECT_SECONDS = 1.0

_TRY_LOCKS = (
    "SELECT name FROM unnest($2::text[]) AS name WHERE pg_try_advisory_lock($1, hashtext(name))"
)
_UNLOCK = "SELECT pg_advisory_unlock($1, hashtext(name)) FROM unnest($2::text[]) AS name"


class CoordinatorLost(Exception):
    """The session is gone (or not back yet): nothing it held is held any more."""


class Coordinator:
    """A dedicated PostgreSQL session: session locks, LISTEN and NOTIFY."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._raw: Any = None  # the asyncpg connection under _conn
        self._calls = asyncio.Lock()
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._on_lost: list[Callable[[], None]] = []
        self._held: set[tuple[int, str]] = set()
        self._alive = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._notifying: set[str] = set()
        self.identity = uuid.uuid4().hex

    @classmethod
    async def open(cls, db: Database) -> Coordinator:
        """Connected, heartbeat running. Only for PostgreSQL."""
        assert db.is_postgresql, "a coordinator is PostgreSQL's"
        url = db.engine.url.render_as_string(hide_password=False)
        engine = create_async_engine(
            url,
            poolclass=NullPool,
            hide_parameters=True,
            async_creator=postgresql_connector(url, db.password),
        )
        coordinator = cls(engine)
        await coordinator._connect()
        coordinator._spawn(coordinator._heartbeat())
        return coordinator

    @property
    def alive(self) -> bool:
        return self._alive.is_set()

    async def wait_alive(self) -> None:
        await self._alive.wait()

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Called (synchronously) the moment the session is known to be gone."""
        self._on_lost.append(callback)

    async def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """``callback(payload)`` for every NOTIFY on ``channel``, this instance's own too."""
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(callback)
        if first and self._raw is not None:
            await self._call(self._raw.add_listener, channel, self._dispatch)

    def announce(self, channel: str, payload: str = "") -> None:
        """NOTIFY the other instances, in the background; a NOTIFY already on its way
        for the same channel and payload stands for this one."""
        key = f"{channel}\0{payload}"
        if key in self._notifying or self._closed:
            return
        self._notifying.add(key)
        self._spawn(self._notify(key, channel, payload))

    async def try_locks(self, scope: Scope, names: Sequence[str]) -> set[str]:
        """Take each lock that nobody holds; return the names taken. Held until
        :meth:`unlock` or the end of the session."""
        wanted = [name for name in dict.fromkeys(names) if (int(scope), name) not in self._held]
        got = {name for name in names if (int(scope), name) in self._held}
        if not wanted:
            return got
        rows = await self._call(self._raw_fetch, _TRY_LOCKS, int(scope), wanted)
        taken = {str(row[0]) for row in rows}
        self._held.update((int(scope), name) for name in taken)
        return got | taken

    async def unlock(self, scope: Scope, names: Sequence[str]) -> None:
        held = [name for name in dict.fromkeys(names) if (int(scope), name) in self._held]
        if not held:
            return
        self._held.difference_update((int(scope), name) for name in held)
        with contextlib.suppress(CoordinatorLost):
            await self._call(self._raw_fetch, _UNLOCK, int(scope), held)

    def holds(self, scope: Scope, name: str) -> bool:
        return (int(scope), name) in self._held

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._disconnect()
        await self._engine.dispose()

    # ---- the session ---------------------------------------------------------------------

    async def _connect(self) -> None:
        conn = await self._engine.connect()
        try:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            for channel in self._listeners:
                await raw.add_listener(channel, self._dispatch)
            await self._claim_identity(raw)
            raw.add_termination_listener(self._terminated)
        except BaseException:
            await conn.close()
            raise
        self._conn, self._raw = conn, raw
        self._alive.set()

    async def _claim_identity(self, raw: Any) -> None:
        """Lock this instance's name in the new session. Held by someone else, it is
        being taken over (this session was lost long enough to look gone): from now on
        this instance is someone new, and what the old name owned is the taker's."""
        while not await raw.fetch(_TRY_LOCKS, int(Scope.INSTANCE), [self.identity]):
            self.identity = uuid.uuid4().hex

    async def _disconnect(self) -> None:
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    def _terminated(self, _connection: Any) -> None:
        self._lose("the connection closed")

    def _lose(self, why: str) -> None:
        """Everything the session held is gone: say so before anything else runs."""
        if not self._alive.is_set():
            return
        self._alive.clear()
        self._held.clear()
        if not self._closed:
            log.warning("coordination session lost (%s); locks released, reconnecting", why)
        for callback in self._on_lost:
            callback()
        if not self._closed:
            self._spawn(self._reconnect())

    async def _reconnect(self) -> None:
        await self._disconnect()
        while not self._closed:
            try:
                await self._connect()
            except Exception as exc:
                log.warning("coordination session: cannot reconnect yet (%s)", type(exc).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            log.info("coordination session back")
            return

    async def _heartbeat(self) -> None:
        while not self._closed:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if not self.alive:
                continue
            with contextlib.suppress(CoordinatorLost):
                await self._call(self._raw_fetch, "SELECT 1")

    async def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        if not self.alive or self._raw is None:
            raise CoordinatorLost("the coordination session is not connected")
        async with self._calls:
            try:
                async with asyncio.timeout(CALL_TIMEOUT_SECONDS):
                    return await method(*args)
            except (OSError, TimeoutError, ConnectionError) as exc:
                self._lose(type(exc).__name__)
                raise CoordinatorLost(str(exc)) from exc
            except Exception as exc:
                if self._raw is None or self._raw.is_closed():
                    self._lose(type(exc).__name__)
                    raise CoordinatorLost(str(exc)) from exc
                raise

    async def _raw_fetch(self, sql: str, *args: Any) -> list[Any]:
        rows: list[Any] = await self._raw.fetch(sql, *args)
        return rows

    async def _notify(self, key: str, channel: str, payload: str) -> None:
        try:
            await self._call(self._raw_fetch, "SELECT pg_notify($1, $2)", channel, payload)
        except CoordinatorLost:
            pass  # the others' polls find the work
        finally:
            self._notifying.discard(key)

    def _dispatch(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        if pid == connection.get_server_pid():
            return  # this instance's own: it acted on it already
        for callback in self._listeners.get(channel, ()):
            try:
                callback(payload)
            except Exception:
                log.exception("a notification on %s could not be handled", channel)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
