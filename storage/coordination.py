"""Work that must happen once, or in order, across several Haven instances on PostgreSQL.

SQLite has one writer at a time, and one Haven per data directory: everything here is a
no-op there. On PostgreSQL several instances share the database, each with a pool of
connections, so transactions run side by side and some must not:

- rows two instances may create at once (the next daily briefing): the second INSERT
  is skipped rather than failing its transaction (:func:`insert_or_skip`);
- the turns of one person: two messages of one victim, taken by two instances (or two
  connections of one), would both read the case and both write it. A transaction-scoped
  advisory lock on the person makes them take turns; it goes with the transaction, so a
  crashed instance can never leave it held.

Locks are PostgreSQL's two-key advisory locks: the first key says what is locked (a
:class:`Scope`), the second is ``hashtext`` of its name. Two names sharing a hash only
share a lock, which costs waiting, never correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

from sqlalchemy import Insert, Table, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:scope, hashtext(:name))")


class Scope(IntEnum):
    """The first key of Haven's advisory locks. 0x4856 is "HV"; the ledger's append lock
    and the migration lock are single 64-bit keys, a keyspace of their own."""

    PERSON = 0x4856_0001
    OUTBOX_CHAT = 0x4856_0002
    RECEIVER = 0x4856_0003
    DUTY = 0x4856_0004
    INSTANCE = 0x4856_0005


async def serialise(conn: AsyncConnection, scope: Scope, name: str) -> None:
    """Until ``conn``'s transaction ends, no other transaction holds (scope, name)."""
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(_XACT_LOCK, {"scope": int(scope), "name": name})


def insert_or_skip(conn: AsyncConnection, table: Table, keys: Sequence[str]) -> Insert:
    """An INSERT that does nothing when a row with the same ``keys`` (a unique
    constraint's columns) exists, committed by another transaction or not yet."""
    if conn.dialect.name == "postgresql":
        # Imported here: SQLAlchemy's PostgreSQL dialect package loads every driver of it
        # (a seventh of a second), which SQLite deployments never need.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))
