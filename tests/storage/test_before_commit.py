"""storage.before_commit: work a transaction does last, in the same transaction.

The evidence log's append is put off to there, so that on PostgreSQL its lock is held for
the append and the commit only (storage/before_commit.py); what the rest of a turn does
must not keep another instance's append waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import before_commit, ledger
from storage.database import Database
from storage.leaves import LeafKind
from storage.schema import ledger_leaves
from tests.backends import Backend

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


class Boom(Exception):
    pass


@pytest.fixture
async def db(tmp_path: Path, backend: Backend) -> AsyncIterator[Database]:
    async with backend.migrated(tmp_path / "before.db") as database:
        yield database


async def leaves(db: Database) -> list[bytes]:
    async with db.transaction() as conn:
        rows = await conn.execute(select(ledger_leaves.c.data).order_by(ledger_leaves.c.leaf_index))
        return [bytes(data) for (data,) in rows]


def appending(data: bytes, order: list[str]) -> before_commit.Work:
    async def work(conn: AsyncConnection) -> None:
        order.append(data.decode())
        await ledger.append(conn, LeafKind.CUSTODY, data, NOW)

    return work


async def test_put_off_work_runs_last_in_order_and_commits_with_the_transaction(
    db: Database,
) -> None:
    order: list[str] = []
    async with db.transaction() as conn:
        await before_commit.at_end(conn, appending(b"first", order))
        await before_commit.at_end(conn, appending(b"second", order))
        order.append("body")
        size = (await conn.execute(select(func.count()).select_from(ledger_leaves))).scalar()
        assert size == 0  # nothing of it ran yet
    assert order == ["body", "first", "second"]
    assert await leaves(db) == [b"first", b"second"]


async def test_work_put_off_by_work_runs_too(db: Database) -> None:
    order: list[str] = []

    async def outer(conn: AsyncConnection) -> None:
        await appending(b"outer", order)(conn)
        await before_commit.at_end(conn, appending(b"inner", order))

    async with db.transaction() as conn:
        await before_commit.at_end(conn, outer)
    assert await leaves(db) == [b"outer", b"inner"]


async def test_a_body_that_raises_runs_none_of_it_and_commits_nothing(db: Database) -> None:
    order: list[str] = []
    with pytest.raises(Boom):
        async with db.transaction() as conn:
            await ledger.append(conn, LeafKind.CUSTODY, b"in the body", NOW)
            await before_commit.at_end(conn, appending(b"put off", order))
            raise Boom
    assert order == []
    assert await leaves(db) == []
    async with db.transaction() as conn:  # the next transaction starts with nothing put off
        await before_commit.at_end(conn, appending(b"next", order))
    assert await leaves(db) == [b"next"]


async def test_work_that_raises_rolls_the_whole_transaction_back(db: Database) -> None:
    async def failing(_conn: AsyncConnection) -> None:
        raise Boom

    with pytest.raises(Boom):
        async with db.transaction() as conn:
            await ledger.append(conn, LeafKind.CUSTODY, b"in the body", NOW)
            await before_commit.at_end(conn, failing)
    assert await leaves(db) == []


async def test_on_a_connection_no_database_transaction_opened_it_runs_at_once(
    db: Database,
) -> None:
    order: list[str] = []
    async with db.engine.begin() as conn:
        await before_commit.at_end(conn, appending(b"now", order))
        assert order == ["now"]
    assert await leaves(db) == [b"now"]


async def test_an_open_transaction_with_an_append_put_off_keeps_no_other_append_waiting(
    db: Database, backend: Backend
) -> None:
    if not backend.is_postgresql:
        pytest.skip("SQLite runs one transaction at a time")
    order: list[str] = []
    held_open = asyncio.Event()
    release = asyncio.Event()

    async def slow_turn() -> None:
        async with db.transaction() as conn:
            await before_commit.at_end(conn, appending(b"slow", order))
            held_open.set()
            await release.wait()  # the rest of a long turn

    slow = asyncio.create_task(slow_turn())
    await held_open.wait()
    async with asyncio.timeout(10):  # waiting on the slow turn's lock would never end
        async with db.transaction() as conn:
            await before_commit.at_end(conn, appending(b"quick", order))
    release.set()
    await slow
    assert await leaves(db) == [b"quick", b"slow"]
