"""storage.audit_sqlite: a chunk is proven sound exactly when the thorough checks would
find nothing in it, and the audit says the same with the proof as without it.

The proof rebuilds custody leaves in SQL; the hypothesis test holds it to
storage/leaves.py's bytes over arbitrary text, numbers and times.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from bot.runtime import Haven
from storage import audit as audit_module
from storage import custody, ledger
from storage.audit import CHUNK_LEVEL, Problem
from storage.audit_sqlite import SqliteSoundness, Verdicts
from storage.database import Database
from storage.leaves import CustodyEvent, LeafKind
from storage.schema import custody_events, ledger_leaves, ledger_nodes
from tests.conftest import Victim
from tests.storage.test_audit import keep_some, problems, run_audit

# SQLite's own quick look at a log; PostgreSQL logs get the thorough checks.
pytestmark = pytest.mark.only_on("sqlite")

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)

TEXT = st.text(
    alphabet=st.sampled_from([*'a"\\/\x00\x01\x1f\x7f\b\f\n\r\t é截\u2028\u2029\ufeff\U0001f600'])
    | st.characters(codec="utf-8"),  # what can be stored: no lone surrogates
    max_size=40,
)


def proof(haven: Haven, top_level: int = CHUNK_LEVEL) -> SqliteSoundness:
    soundness = SqliteSoundness.open_for(haven.db, top_level)
    assert soundness is not None
    return soundness


async def record(haven: Haven, event: CustodyEvent) -> int:
    async with haven.db.transaction() as conn:
        return (await custody.record(conn, event)).index


async def set_at(haven: Haven, index: int, stored: str) -> None:
    """Write ``at`` as raw text, the way another program (or the bench) might."""
    async with haven.db.transaction() as conn:
        await conn.exec_driver_sql(
            "UPDATE custody_events SET at = ? WHERE leaf_index = ?", (stored, index)
        )


async def log_size(haven: Haven) -> int:
    async with haven.db.transaction() as conn:
        return await ledger.tree_size(conn)


# ---- what is proven sound -------------------------------------------------------------


async def test_a_kept_vault_is_proven_sound(victim: Victim) -> None:
    haven = await keep_some(victim)
    await record(haven, CustodyEvent(actor="staff:console:a", action="read", at=NOW, case_id=1))
    soundness = proof(haven)
    verdicts = soundness.verdicts([(0, await log_size(haven))])
    try:
        assert await verdicts.sound(0)
    finally:
        verdicts.close()
        soundness.close()


async def test_only_a_database_file_gets_the_proof(tmp_path: Path) -> None:
    memory = Database.open("sqlite+aiosqlite:///:memory:")
    try:
        assert SqliteSoundness.open_for(memory, CHUNK_LEVEL) is None
    finally:
        await memory.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    actor=TEXT,
    action=TEXT.filter(lambda action: action != custody.RECEIVED),
    reason=TEXT,
    case_id=st.none() | st.just(1),
    item_no=st.none() | st.integers(-(2**63), 2**63 - 1),
    at=st.datetimes(timezones=st.just(UTC)),
)
async def test_custody_rows_rebuild_their_leaves_in_sql_byte_for_byte(
    victim: Victim,
    actor: str,
    action: str,
    reason: str,
    case_id: int | None,
    item_no: int | None,
    at: datetime,
) -> None:
    """Proven for any text (escapes, controls, non-ASCII), number and time; and a row
    changed by one character is not."""
    haven = victim.haven
    if case_id is not None:
        await victim.text("hello")  # the case the event names must exist
    event = CustodyEvent(actor, action, at, case_id, item_no, reason)
    index = await record(haven, event)
    soundness = proof(haven)
    try:
        assert soundness.rows_are_sound(index, index + 1)
        async with haven.db.transaction() as conn:
            await conn.execute(
                update(custody_events)
                .where(custody_events.c.leaf_index == index)
                .values(reason=reason + "x")
            )
        assert not soundness.rows_are_sound(index, index + 1)
    finally:
        soundness.close()


@pytest.mark.parametrize(
    ("stored", "proven"),
    [
        ("2026-01-05 01:00:00", True),  # no fraction: how bench/evidence.py seeds rows
        ("2026-01-05T01:00:00.000000", True),  # Python reads a "T" the same
        ("2026-01-05 01:00:00+00:00", False),  # readable, but not vouched for in SQL
        ("2026-01-05 01:00", False),
    ],
)
async def test_stored_times_in_other_shapes(victim: Victim, stored: str, proven: bool) -> None:
    """Shapes the SQL does not vouch for still audit right: through the thorough checks."""
    haven = await keep_some(victim)
    index = await record(haven, CustodyEvent(actor="operator", action="hold", at=NOW))
    await set_at(haven, index, stored)
    soundness = proof(haven)
    try:
        assert soundness.rows_are_sound(index, index + 1) is proven
    finally:
        soundness.close()
    assert await run_audit(haven) == []


async def test_an_impossible_row_is_left_to_the_thorough_checks(victim: Victim) -> None:
    """A number where text belongs, a fraction where an integer does: not proven."""
    haven = await keep_some(victim)
    index = await record(haven, CustodyEvent(actor="operator", action="hold", at=NOW))
    soundness = proof(haven)
    try:
        for column, value in (("reason", b"\x00"), ("item_no", 1.5)):
            async with haven.db.transaction() as conn:
                await conn.exec_driver_sql(
                    f"UPDATE custody_events SET {column} = ? WHERE leaf_index = ?", (value, index)
                )
            assert not soundness.rows_are_sound(index, index + 1)
    finally:
        soundness.close()


# ---- the tree, chunk by chunk -------------------------------------------------------------


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[Database]:
    """A log of 37 leaves (no rows: this is about the tree)."""
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'log.db'}")
    await db.migrate()
    async with db.transaction() as conn:
        for number in range(37):
            await ledger.append(conn, LeafKind.CUSTODY, b"leaf-%d" % number, NOW)
    yield db
    await db.close()


def sound_chunks(db: Database, top_level: int = 2, size: int = 37) -> list[bool]:
    soundness = SqliteSoundness.open_for(db, top_level)
    assert soundness is not None
    step = 1 << top_level
    try:
        return [soundness.tree_is_sound(b, min(b + step, size)) for b in range(0, size, step)]
    finally:
        soundness.close()


async def test_every_chunk_of_an_untouched_tree_is_sound(log: Database) -> None:
    assert all(sound_chunks(log))
    assert all(sound_chunks(log, top_level=5))


def chunks_of(size: int = 37, top_level: int = 2) -> list[tuple[int, int]]:
    step = 1 << top_level
    return [(begin, min(begin + step, size)) for begin in range(0, size, step)]


async def test_a_failing_check_fails_its_chunk_and_closing_stops_the_threads(
    log: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def tree(soundness: SqliteSoundness, begin: int, end: int) -> bool:
        if begin == 8:
            raise sqlite3.OperationalError("disk I/O error")
        return True

    monkeypatch.setattr(SqliteSoundness, "tree_is_sound", tree)
    monkeypatch.setattr(SqliteSoundness, "rows_are_sound", lambda soundness, b, e: True)
    soundness = SqliteSoundness.open_for(log, 2)
    assert soundness is not None
    before = threading.active_count()
    verdicts = soundness.verdicts(chunks_of())
    try:
        assert await verdicts.sound(0) and await verdicts.sound(1)
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            await verdicts.sound(2)
    finally:
        verdicts.close()
        soundness.close()
    assert threading.active_count() == before


@pytest.mark.parametrize(
    ("change", "chunk"),
    [
        (update(ledger_leaves).where(ledger_leaves.c.leaf_index == 9).values(data=b"x"), 2),
        (delete(ledger_leaves).where(ledger_leaves.c.leaf_index == 36), 9),
        (
            update(ledger_nodes)
            .where(ledger_nodes.c.level == 2, ledger_nodes.c.node_index == 5)
            .values(hash=b"\0" * 32),
            5,
        ),
        (delete(ledger_nodes).where(ledger_nodes.c.level == 1, ledger_nodes.c.node_index == 3), 1),
        (
            update(ledger_nodes)
            .where(ledger_nodes.c.level == 0, ledger_nodes.c.node_index == 0)
            .values(hash=b"\0" * 33),
            0,
        ),
    ],
)
async def test_a_changed_leaf_or_node_makes_its_chunk_unsound(
    log: Database, change: object, chunk: int
) -> None:
    async with log.transaction() as conn:
        await conn.execute(change)  # type: ignore[call-overload]
    assert sound_chunks(log) == [number != chunk for number in range(10)]


async def test_a_leaf_stored_as_text_makes_its_chunk_unsound(log: Database) -> None:
    """The same bytes, but not a BLOB: nothing the proof vouches for."""
    async with log.transaction() as conn:
        await conn.exec_driver_sql(
            "UPDATE ledger_leaves SET data = CAST(data AS TEXT) WHERE leaf_index = 9"
        )
    assert sound_chunks(log) == [number != 2 for number in range(10)]


# ---- the audit with and without the proof -----------------------------------------------


async def tamper_across_chunks(haven: Haven) -> None:
    """Forty more custody leaves, then one change in each of several chunks of 4."""
    for number in range(40):
        event = CustodyEvent(actor="operator", action="read", at=NOW, reason=f"r{number}")
        await record(haven, event)
    async with haven.db.transaction() as conn:
        await conn.execute(
            update(custody_events).where(custody_events.c.leaf_index == 9).values(reason="no")
        )
        await conn.execute(
            delete(ledger_nodes).where(ledger_nodes.c.level == 1, ledger_nodes.c.node_index == 8)
        )
        await conn.execute(
            update(ledger_leaves).where(ledger_leaves.c.leaf_index == 30).values(data=b"{}")
        )
        await conn.execute(delete(custody_events).where(custody_events.c.leaf_index == 41))
        # Item 1's "received" row moved onto a custody leaf in a chunk without items.
        await conn.execute(delete(custody_events).where(custody_events.c.leaf_index == 21))
        await conn.execute(
            update(custody_events).where(custody_events.c.leaf_index == 0).values(leaf_index=21)
        )


async def test_the_audit_finds_the_same_with_and_without_the_proof(
    victim: Victim, monkeypatch: pytest.MonkeyPatch
) -> None:
    haven = await keep_some(victim)
    await tamper_across_chunks(haven)
    monkeypatch.setattr(audit_module, "CHUNK_LEVEL", 2)
    verdicts: list[bool] = []
    judge = Verdicts.sound

    async def judged(judging: Verdicts, index: int) -> bool:
        verdicts.append(await judge(judging, index))
        return verdicts[-1]

    monkeypatch.setattr(Verdicts, "sound", judged)
    proven = await run_audit(haven)
    # 44 leaves, chunks of 4: the changes are in chunks 2, 4, 5, 7 and 10.
    assert verdicts == [number not in (2, 4, 5, 7, 10) for number in range(11)]
    monkeypatch.setattr(SqliteSoundness, "open_for", staticmethod(lambda db, top_level: None))
    thorough = await run_audit(haven)
    assert proven == thorough
    assert problems(proven) == [
        (Problem.CUSTODY_DIFFERS, 9, None),
        (Problem.NODE_MISSING, None, None),
        (Problem.CUSTODY_DIFFERS, 21, 1),
        (Problem.ROW_MISSING, 21, None),
        (Problem.LEAF_CHANGED, 30, None),
        (Problem.ROW_MISSING, 41, None),
    ]
