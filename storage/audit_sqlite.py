"""The audit's quick look at a SQLite log: is a chunk of leaves sound, yes or no?

Most of an audit is confirming that nothing changed. Doing that through per-row Python
objects costs tens of microseconds a leaf; here it costs a few, so a log of a million
leaves audits in seconds. :class:`SqliteSoundness` answers one question per chunk of
leaves ``[begin, end)``: would the thorough checks in storage/audit.py find nothing in
its tree, its custody rows and its rows' presence? "Yes" is only said when that is
proven; anything else ("no", or a row too unusual to vouch for here) sends the chunk to
the thorough checks, which say what is wrong and where. So this module never names a
finding and never decides one: it can only make a clean chunk cheaper.

- The tree (:meth:`tree_is_sound`): every leaf present and hashing to its stored leaf
  hash, every stored node of the chunk present and the hash of its stored children.
  The leaves are read as a plain list of bytes and hashed with hashlib; each level's
  hashes are handed back to SQLite, which compares the stored nodes with them.
- The rows (:meth:`rows_are_sound`), in SQL, so nothing comes back when all is well:
  every custody row other than "received" rebuilds its leaf byte for byte (the leaf's
  canonical JSON is rebuilt with SQLite's ``json_object``, which writes the compact form
  with the same escapes as storage/leaves.py — tests/storage/test_audit_sqlite.py proves it over
  arbitrary text), and every evidence or custody leaf has its row. Evidence item rows and
  "received" rows are compared in Python by the caller, as before: each item needs its
  content checked anyway, which costs far more.

Both run on connections of their own, which only read (WAL readers never wait for, nor
hold, the write lock), each in a thread of its own that goes through the chunks in order
ahead of the caller (:meth:`SqliteSoundness.verdicts`): neither waits for the other to
finish a chunk, nor for the caller's own work on one. The row query spends its time
inside SQLite with the GIL released, so it overlaps the hashing on a second core.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from storage.database import Database
from storage.merkle import HASH_SIZE, leaf_hashes, parent_hashes

# Leaves whose data is not a BLOB (tampered) are left out, so their chunk is not proven.
_LEAVES = """SELECT data FROM ledger_leaves
    WHERE leaf_index >= ? AND leaf_index < ? AND typeof(data) = 'blob' ORDER BY leaf_index"""
# How many nodes one level of a chunk has in ``[?2, ?3)``, and how many of them differ
# from the expected hashes ?4 (laid end to end, 32 bytes each, from node ?2 on): compared
# inside SQLite, without a Python object per node.
_LEVEL_AGAINST = f"""SELECT count(*),
        total(hash IS NOT substr(?4, (node_index - ?2) * {HASH_SIZE} + 1, {HASH_SIZE}))
    FROM ledger_nodes WHERE level = ?1 AND node_index >= ?2 AND node_index < ?3"""

# ``at`` as SQLAlchemy stores it: "2026-01-05 01:00:00.000000", or without the fraction
# when written so, digits checked. storage/leaves.py's utc_stamp of the time Python reads
# from it is the same digits with a "T", six-digit microseconds and a "Z". Any other text
# is left to the thorough check. (A date of the right shape that does not exist, such
# as February 30th, passes here: Python could not read it at all, and no leaf Haven
# wrote can hold it.)
_D2 = "[0-9][0-9]"
_TIME = f"{_D2}{_D2}-{_D2}-{_D2}[ T]{_D2}:{_D2}:{_D2}"
_AT_READABLE = f"""CASE length(e.at)
        WHEN 19 THEN e.at GLOB '{_TIME}'
        WHEN 26 THEN e.at GLOB '{_TIME}.{_D2}{_D2}{_D2}' END"""
_STAMP = """substr(e.at, 1, 10) || 'T' || substr(e.at, 12)
        || CASE length(e.at) WHEN 19 THEN '.000000Z' ELSE 'Z' END"""

# CustodyEvent.to_bytes: keys in sorted order, compact, UTF-8 (the database's encoding).
_CUSTODY_LEAF = f"""CAST(json_object(
        'action', e.action,
        'actor', e.actor,
        'at', {_STAMP},
        'case', e.case_id,
        'item', CASE WHEN e.case_id IS NOT NULL AND e.item_no IS NOT NULL
                     THEN e.case_id || '-' || e.item_no END,
        'reason', e.reason,
        'type', 'custody',
        'v', 1) AS BLOB)"""

# A leaf not proven to have the rows it should, and only those: a custody leaf needs its
# custody row, other than "received", which rebuilds it byte for byte; an evidence leaf
# needs its item row, and may have "received" rows (compared with the item in Python);
# a tombstone has none; a kind unknown here is never proven. Every custody row of the
# chunk is met on its leaf, as tree_is_sound proves every leaf is there; so in a proven
# chunk, every "received" row is on an item's leaf.
# For a custody leaf, CASE rather than AND so the comparison is only made once the
# guards hold: numbers that are integers (SQLite and Python write other numbers
# differently; text columns hold text or, tampered, a BLOB, on which json_object stops
# the query); a readable time. ``IS NOT 1``: NULL, "could not say", is not proven.
_UNPROVEN_LEAF = f"""SELECT 1 FROM ledger_leaves AS l
    LEFT JOIN custody_events AS e ON e.leaf_index = l.leaf_index
    WHERE l.leaf_index >= ? AND l.leaf_index < ?
      AND (CASE l.kind
          WHEN 'custody' THEN CASE WHEN e.id IS NOT NULL AND e.action IS NOT 'received'
                  AND typeof(e.case_id) != 'real' AND typeof(e.item_no) != 'real'
                  AND {_AT_READABLE}
              THEN l.data = {_CUSTODY_LEAF} END
          WHEN 'evidence' THEN (e.id IS NULL OR e.action IS 'received') AND EXISTS (
              SELECT 1 FROM evidence_items AS i WHERE i.leaf_index = l.leaf_index)
          WHEN 'tombstone' THEN e.id IS NULL
          END) IS NOT 1
    LIMIT 1"""


class SqliteSoundness:
    """Read-only connections to the log's SQLite file; one per kind of check, so the two
    can run at once in different threads."""

    def __init__(self, path: Path, top_level: int) -> None:
        self.top_level = top_level
        self._tree = _reader(path)
        self._rows = _reader(path)

    @classmethod
    def open_for(cls, db: Database, top_level: int) -> SqliteSoundness | None:
        """For a SQLite database in a file; None otherwise (PostgreSQL, or in memory),
        where every chunk takes the thorough checks."""
        name = db.engine.url.database
        if not db.is_sqlite or not name or name == ":memory:" or name.startswith("file:"):
            return None
        return cls(Path(name), top_level)

    def verdicts(self, chunks: Sequence[tuple[int, int]]) -> Verdicts:
        """Whether each chunk ``[begin, end)`` is sound, worked out ahead of the caller.
        Close them before closing this."""
        loop = asyncio.get_running_loop()
        return Verdicts(
            _Checks(self.tree_is_sound, chunks, loop), _Checks(self.rows_are_sound, chunks, loop)
        )

    def close(self) -> None:
        self._tree.close()
        self._rows.close()

    def tree_is_sound(self, begin: int, end: int) -> bool:
        """Leaves and stored nodes of ``[begin, end)`` (levels up to ``top_level``).
        ``begin`` is a multiple of 2**top_level.

        Every stored node is compared with the node computed from the leaves, level by
        level. All equal is the same as what the thorough check asks (each stored leaf
        hash that of its leaf, each stored node the hash of its *stored* children, none
        missing): by induction up the levels, stored and computed children are the same.
        """
        with _snapshot(self._tree) as read:
            data = [row[0] for row in read.execute(_LEAVES, (begin, end))]
            if len(data) != end - begin:
                return False
            expected = leaf_hashes(data)
            for level in range(self.top_level + 1):
                first, last = begin >> level, end >> level
                query = (level, first, last, b"".join(expected))
                present, differing = read.execute(_LEVEL_AGAINST, query).fetchone()
                if present != last - first or differing:
                    return False
                expected = parent_hashes(expected)
        return True

    def rows_are_sound(self, begin: int, end: int) -> bool:
        """Custody rows of ``[begin, end)`` rebuild their leaves; every leaf has its row.
        Meant with tree_is_sound, which proves the leaves are all there."""
        try:
            unproven = self._rows.execute(_UNPROVEN_LEAF, (begin, end)).fetchone()
        except sqlite3.Error:
            return False  # a value SQL cannot turn into JSON: for the thorough check
        return unproven is None


class Verdicts:
    """The two kinds of checks of every chunk, each running ahead in its own thread."""

    def __init__(self, tree: _Checks, rows: _Checks) -> None:
        self._checks = (tree, rows)

    async def sound(self, index: int) -> bool:
        """Whether chunk ``index`` (in the order given) is proven sound."""
        tree, rows = self._checks
        return await tree.outcome(index) and await rows.outcome(index)

    def close(self) -> None:
        """Stop both threads after their current chunk, and wait for them: only then may
        their connections close."""
        for checks in self._checks:
            checks.stop()


class _Checks:
    """One check over every chunk, in order, in a thread of its own. An error ends the
    thread; it is raised by the chunk it happened on."""

    def __init__(
        self,
        check: Callable[[int, int], bool],
        chunks: Sequence[tuple[int, int]],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._check = check
        self._chunks = chunks
        self._loop = loop
        self._outcomes: list[asyncio.Future[bool]] = [loop.create_future() for _ in chunks]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-check", daemon=True)
        self._thread.start()

    async def outcome(self, index: int) -> bool:
        return await self._outcomes[index]

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        for outcome in self._outcomes:
            if outcome.done() and not outcome.cancelled():
                outcome.exception()  # an error nobody awaited is not one to warn of

    def _run(self) -> None:
        for (begin, end), outcome in zip(self._chunks, self._outcomes, strict=True):
            if self._stopping.is_set():
                return
            try:
                sound = self._check(begin, end)
            except Exception as exc:
                self._loop.call_soon_threadsafe(_settle, outcome, exc)
                return
            self._loop.call_soon_threadsafe(_settle, outcome, sound)


def _settle(outcome: asyncio.Future[bool], result: bool | Exception) -> None:
    if outcome.done():  # the audit gave up waiting
        return
    if isinstance(result, Exception):
        outcome.set_exception(result)
    else:
        outcome.set_result(result)


def _reader(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions only where _snapshot begins one. Used by one
    # worker thread at a time, though not always the same one.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA query_only = ON")
    return conn


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: a chunk's queries see the same state of the file."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")
