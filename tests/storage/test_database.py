"""The SQLite transaction path: group commit, rollbacks inside a group, waiting for the
write lock another process holds, and nothing left holding the lock once idle."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from storage import cases as cases_store
from storage import messages, sqlite_connection
from storage.database import Database
from storage.group_commit import DatabaseClosed
from storage.schema import cases
from tests.sql_trace import traced, tracing

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


class Boom(Exception):
    pass


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "haven.db"


@pytest.fixture
async def db(path: Path) -> AsyncIterator[Database]:
    database = Database.open(f"sqlite+aiosqlite:///{path}")
    await database.migrate()
    yield database
    await database.close()


def case_row(user: str) -> dict[str, object]:
    return {
        "platform": "memory",
        "user_id": user,
        "chat_id": user,
        "status": "open",
        "phase": "language",
        "locale": "en",
        "severity": "normal",
        "created_at": NOW,
        "updated_at": NOW,
    }


def users_on_disk(path: Path) -> set[str]:
    """What another process sees: only committed rows."""
    with sqlite3.connect(path) as other:
        return {row[0] for row in other.execute("SELECT user_id FROM cases")}


def write_lock_is_free(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def add_case(db: Database, user: str, *, fail: bool = False) -> None:
    async with db.transaction() as conn:
        await conn.execute(insert(cases).values(**case_row(user)))
        await asyncio.sleep(0)  # let the others queue up behind this one
        if fail:
            raise Boom(user)


async def test_a_lone_transaction_is_on_disk_when_it_returns(db: Database, path: Path) -> None:
    await add_case(db, "alone")
    assert users_on_disk(path) == {"alone"}
    assert write_lock_is_free(path)


async def test_transactions_that_queue_up_share_commits_and_all_land(
    db: Database, path: Path
) -> None:
    async with traced(db) as statements:
        await asyncio.gather(*(add_case(db, f"u{n}") for n in range(50)))
    assert users_on_disk(path) == {f"u{n}" for n in range(50)}
    assert 1 <= statements.count("COMMIT") < 50
    assert write_lock_is_free(path)


async def test_a_failing_member_loses_only_its_own_writes(db: Database, path: Path) -> None:
    results = await asyncio.gather(
        *(add_case(db, f"u{n}", fail=n % 3 == 0) for n in range(30)), return_exceptions=True
    )
    failed = {str(r) for r in results if isinstance(r, Boom)}
    assert failed == {f"u{n}" for n in range(30) if n % 3 == 0}
    assert users_on_disk(path) == {f"u{n}" for n in range(30) if n % 3 != 0}
    assert write_lock_is_free(path)


async def test_members_see_earlier_members_of_their_group(db: Database) -> None:
    async def add_then_count(user: str) -> int:
        async with db.transaction() as conn:
            await conn.execute(insert(cases).values(**case_row(user)))
            await asyncio.sleep(0)
            return len((await conn.execute(select(cases.c.id))).all())

    counts = await asyncio.gather(*(add_then_count(f"u{n}") for n in range(10)))
    assert sorted(counts) == list(range(1, 11))


async def test_begin_waits_for_another_process_without_blocking_the_loop(
    db: Database, path: Path
) -> None:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = asyncio.create_task(add_case(db, "after"))
    # The loop is free while the transaction waits for the lock (were BEGIN blocking
    # the loop, this sleep would only end when the busy timeout failed the transaction).
    await asyncio.sleep(0.05)
    assert not waiting.done()
    other.execute("COMMIT")
    other.close()
    await waiting
    assert users_on_disk(path) == {"after"}


@pytest.mark.parametrize("earlier_group", [False, True], ids=["first", "later"])
async def test_a_lock_held_past_the_busy_timeout_fails_one_transaction_only(
    db: Database, path: Path, monkeypatch: pytest.MonkeyPatch, earlier_group: bool
) -> None:
    """The first group's BEGIN goes through SQLAlchemy, later ones straight to SQLite:
    either way a BEGIN that times out fails its transaction and the next one works."""
    monkeypatch.setattr(sqlite_connection, "BUSY_TIMEOUT_MS", 50)
    if earlier_group:
        await add_case(db, "earlier")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OperationalError, match="locked"):
        await add_case(db, "refused")
    other.execute("COMMIT")
    other.close()
    await add_case(db, "after")
    assert users_on_disk(path) == {"after"} | ({"earlier"} if earlier_group else set())
    assert write_lock_is_free(path)


async def test_a_cancelled_waiter_does_not_leave_the_group_open(db: Database, path: Path) -> None:
    release = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as conn:
            await conn.execute(insert(cases).values(**case_row("slow")))
            await release.wait()

    first = asyncio.create_task(slow())
    await asyncio.sleep(0)
    second = asyncio.create_task(add_case(db, "second"))
    doomed = asyncio.create_task(add_case(db, "doomed"))
    await asyncio.sleep(0)
    doomed.cancel()
    release.set()
    await asyncio.gather(first, second)
    with pytest.raises(asyncio.CancelledError):
        await doomed
    for _ in range(5):  # the group's finisher runs on the loop
        await asyncio.sleep(0)
    assert users_on_disk(path) == {"slow", "second"}
    assert write_lock_is_free(path)


async def test_a_transaction_after_close_is_refused(path: Path) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{path}")
    await db.migrate()
    await add_case(db, "before")
    await db.close()
    with pytest.raises(DatabaseClosed):
        await add_case(db, "after")
    assert users_on_disk(path) == {"before"}


async def test_a_failing_first_member_releases_the_write_lock(db: Database, path: Path) -> None:
    with pytest.raises(Boom):
        await add_case(db, "nobody", fail=True)
    for _ in range(5):
        await asyncio.sleep(0)
    assert write_lock_is_free(path)
    assert users_on_disk(path) == set()


async def test_a_failed_commit_fails_every_member_and_frees_the_lock(
    db: Database, path: Path
) -> None:
    """A deferred foreign key is checked at COMMIT: the group's commit itself fails."""
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        other.execute(
            "CREATE TABLE child (parent_id REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
        )

    async def orphan() -> None:
        async with db.transaction() as conn:
            await conn.execute(text("INSERT INTO child VALUES (7)"))
            await asyncio.sleep(0)

    results = await asyncio.gather(add_case(db, "grouped"), orphan(), return_exceptions=True)
    assert all(isinstance(r, IntegrityError) for r in results), results
    assert "FOREIGN KEY" in str(results[1])
    assert users_on_disk(path) == set()
    assert write_lock_is_free(path)
    await add_case(db, "later")
    assert users_on_disk(path) == {"later"}


async def test_a_constraint_error_rolls_back_to_the_members_savepoint(
    db: Database, path: Path
) -> None:
    async def duplicate() -> None:
        async with db.transaction() as conn:
            await conn.execute(insert(cases).values(**case_row("dup")))
            await conn.execute(insert(cases).values(**case_row("dup")))

    results = await asyncio.gather(
        add_case(db, "before"), duplicate(), add_case(db, "after"), return_exceptions=True
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], Exception)
    assert users_on_disk(path) == {"before", "after"}


async def test_the_per_message_lookups_use_their_partial_indexes(db: Database) -> None:
    """The open-case lookup and the redelivery check run on every inbound message; a scan
    would make each message slower as the tables grow."""
    await add_case(db, "someone")
    async with db.transaction() as conn:
        with tracing(conn) as statements:
            await cases_store.find_open(conn, "memory", "someone")
            await messages.seen(conn, "memory", "someone", "42")
    lookups = [s for s in statements if "FROM cases" in s or "FROM message_log" in s]
    assert len(lookups) == 2
    async with db.transaction() as conn:
        for statement in lookups:
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            details = [row[3] for row in plan]
            assert any("USING INDEX" in d for d in details), details
            assert not any(
                d.startswith("SCAN cases") or d.startswith("SCAN message_log") for d in details
            ), details
