"""Prepared statements run straight on SQLite give what SQLAlchemy gives, and other
engines still go through SQLAlchemy (played here by turning the direct path off)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from storage import prepared
from storage.database import Database
from storage.prepared import Prepared
from storage.schema import outbox

AT = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=UTC)

INSERT = Prepared(insert(outbox))
# A literal in the statement ("pending") and parameters named apart from their columns.
PENDING_FOR = Prepared(
    select(outbox.c.id, outbox.c.chat_id, outbox.c.created_at, outbox.c.not_before)
    .where(outbox.c.state == "pending", outbox.c.platform == bindparam("platform"))
    .order_by(outbox.c.id)
)
POSTPONE = Prepared(
    update(outbox).where(outbox.c.id == bindparam("row_id")).values(not_before=bindparam("until"))
)


@pytest.fixture(params=["in place", "through SQLAlchemy"])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Database]:
    if request.param == "through SQLAlchemy":
        monkeypatch.setattr(prepared, "inline_sqlite", lambda _conn: None)
    database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'haven.db'}")
    await database.migrate()
    async with database.transaction() as conn:
        assert (prepared.inline_sqlite(conn) is None) == (request.param != "in place")
    yield database
    await database.close()


def row(chat: str, at: datetime = AT) -> dict[str, Any]:
    return {
        "platform": "memory",
        "chat_id": chat,
        "payload": "{}",
        "case_id": None,
        "created_at": at,
    }


async def test_rows_come_back_as_sqlalchemy_reads_them(db: Database) -> None:
    async with db.transaction() as conn:
        first = await INSERT.insert(conn, row("a"))
        await INSERT.run_many(conn, [row("b", AT + timedelta(seconds=1)), row("c")])
        await POSTPONE.run(conn, {"row_id": first, "until": AT + timedelta(hours=1)})
        found = await PENDING_FOR.rows(conn, {"platform": "memory"})
        plain = await conn.execute(PENDING_FOR.statement, {"platform": "memory"})
        expected = [tuple(r) for r in plain]
    assert found == expected
    assert [(chat, created) for _, chat, created, _ in found] == [
        ("a", AT),
        ("b", AT + timedelta(seconds=1)),
        ("c", AT),
    ]
    assert found[0][0] == first
    assert found[0][3] == AT + timedelta(hours=1), "an aware UTC datetime, as written"
    assert found[1][3] is None


async def test_an_update_sets_only_the_columns_it_is_given(db: Database) -> None:
    set_state = Prepared(update(outbox).where(outbox.c.id == bindparam("row_id")))
    async with db.transaction() as conn:
        row_id = await INSERT.insert(conn, row("a"))
        await set_state.run(conn, {"row_id": row_id, "state": "sent"})
        await set_state.run(conn, {"row_id": row_id, "attempts": 3})
        stored = (await conn.execute(select(outbox).where(outbox.c.id == row_id))).one()
    assert (stored.state, stored.attempts, stored.chat_id) == ("sent", 3, "a")


async def test_writes_roll_back_with_their_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await INSERT.insert(conn, row("gone"))
            raise RuntimeError("the turn failed")
    async with db.transaction() as conn:
        assert await PENDING_FOR.rows(conn, {"platform": "memory"}) == []


async def test_a_naive_datetime_is_refused_as_sqlalchemy_refuses_it(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.transaction() as conn:
            await INSERT.insert(conn, row("a", AT.replace(tzinfo=None)))


async def test_a_failing_statement_raises_sqlalchemys_error_without_its_parameters(
    db: Database,
) -> None:
    secret = "the words in the leaked chat"
    duplicate = Prepared(insert(outbox))
    with pytest.raises(IntegrityError) as raised:
        async with db.transaction() as conn:
            row_id = await INSERT.insert(conn, row("a"))
            await duplicate.run(conn, {**row("a"), "id": row_id, "payload": secret})
    assert secret not in str(raised.value)


async def test_times_are_stored_as_sqlalchemys_sqlite_datetime_text_and_read_back(
    db: Database,
) -> None:
    # Databases written before keep their rows readable, and the audit's SQL checks of
    # stored times keep their shape: exactly SQLAlchemy's DATETIME text.
    async with db.transaction() as conn:
        row_id = await INSERT.insert(conn, row("a", AT.astimezone(timezone(timedelta(hours=8)))))
        stored = await conn.exec_driver_sql(f"SELECT created_at FROM outbox WHERE id = {row_id}")
        assert stored.scalar_one() == "2026-11-23 08:30:15.123456"
        await conn.exec_driver_sql(
            f"UPDATE outbox SET not_before = '2026-11-24 09:00:00' WHERE id = {row_id}"
        )
        ((_, _, created, not_before),) = await PENDING_FOR.rows(conn, {"platform": "memory"})
    assert created == AT and created.tzinfo is UTC
    assert not_before == datetime(2026, 11, 24, 9, tzinfo=UTC)
