"""Each case's data key in the database: made with the case's first item, wrapped by the
master key, found again by case, gone for good once erased (storage.case_keys)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update

from storage import case_keys, cases
from storage.database import Database
from storage.keys import KeyRing, MasterKey
from storage.schema import case_keys as case_keys_table

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
RING = KeyRing(MasterKey.generate())


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'haven.db'}")
    await database.migrate()
    async with database.transaction() as conn:
        for user in ("u1", "u2", "u3"):
            await cases.create(
                conn, platform="memory", user_id=user, chat_id=user, locale="en", now=NOW
            )
    yield database
    await database.close()


async def test_each_case_finds_its_own_key_whichever_case_stored_first(db: Database) -> None:
    async with db.transaction() as conn:
        assert not await case_keys.any_stored(conn)
        second = await case_keys.data_key_for_new_item(conn, RING, 2, NOW)
        first = await case_keys.data_key_for_new_item(conn, RING, 1, NOW)
        assert await case_keys.any_stored(conn)
    async with db.transaction() as conn:
        assert await case_keys.data_key(conn, RING, 2) == second
        assert await case_keys.data_key(conn, RING, 1) == first
        assert await case_keys.data_key_for_new_item(conn, RING, 2, NOW) == second
    assert first != second


async def test_a_missing_erased_or_unloadable_key_says_which_case(db: Database) -> None:
    async with db.transaction() as conn:
        await case_keys.data_key_for_new_item(conn, RING, 1, NOW)
        with pytest.raises(case_keys.CaseKeyError) as missing:
            await case_keys.data_key(conn, RING, 3)
        assert str(missing.value) == "case 3 has no data key"

        other_ring = KeyRing(MasterKey.generate())
        with pytest.raises(case_keys.CaseKeyError) as unloadable:
            await case_keys.data_key(conn, other_ring, 1)
        assert str(unloadable.value).startswith(
            f"no loaded master key has id '{RING.current.key_id}'"
        )

        await conn.execute(update(case_keys_table).values(wrapped_key=None, erased_at=NOW))
        with pytest.raises(case_keys.CaseKeyErased) as erased:
            await case_keys.data_key(conn, RING, 1)
        assert str(erased.value) == "the data key of case 1 was erased"


async def test_the_wrapping_key_ids_are_those_of_the_keys_not_erased(db: Database) -> None:
    # Start-up refuses a master key that wraps none of these (bot/evidence/keyfiles.py):
    # an erased case needs no key, and would otherwise block every later start.
    old = KeyRing(MasterKey.generate())
    async with db.transaction() as conn:
        assert await case_keys.wrapping_key_ids(conn) == set()
        await case_keys.data_key_for_new_item(conn, RING, 1, NOW)
        await case_keys.data_key_for_new_item(conn, RING, 2, NOW)
        await case_keys.data_key_for_new_item(conn, old, 3, NOW)
        assert await case_keys.wrapping_key_ids(conn) == {
            RING.current.key_id,
            old.current.key_id,
        }
        await conn.execute(
            update(case_keys_table)
            .where(case_keys_table.c.case_id == 3)
            .values(wrapped_key=None, erased_at=NOW)
        )
        assert await case_keys.wrapping_key_ids(conn) == {RING.current.key_id}
