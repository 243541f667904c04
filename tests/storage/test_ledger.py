"""storage.ledger: the RFC 9162 log as stored in the database.

Published vectors, proofs for random sizes checked by storage.merkle's verifiers and
against the naive RFC definitions, tamper detection, signed heads, and the O(log n)
bound: appending or proving costs the same few statements at any size.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, MetaData, create_engine, delete, func, select, text
from sqlalchemy.exc import IntegrityError

from storage import custody, ledger
from storage.database import MIGRATIONS, Database
from storage.leaves import CustodyEvent, LeafKind
from storage.merkle import (
    EMPTY_ROOT,
    CompactRange,
    leaf_hash,
    reference_consistency,
    reference_inclusion,
    reference_root,
    verify_consistency,
    verify_inclusion,
    verify_tree_head,
)
from storage.schema import (
    custody_events,
    evidence_items,
    ledger_leaves,
    ledger_nodes,
    metadata,
    tree_heads,
)
from storage.signed_note import verifier_of
from storage.tlog import Checkpoint, open_checkpoint
from tests.backends import Backend
from tests.conftest import Victim
from tests.evidence.test_evidence import forward
from tests.sql_trace import queries, traced, tracing

VECTORS = Path(__file__).parents[2] / "shared" / "test-vectors" / "merkle-rfc9162.json"
NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
N = 300
ORIGIN = "haven.example/log"
LEAVES = [b"leaf-%d" % i for i in range(N)]
EVIDENCE_TABLES = (
    "ledger_leaves",
    "ledger_nodes",
    "tree_heads",
    "case_keys",
    "evidence_items",
    "custody_events",
    "holds",
)
PROOFS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
async def db(tmp_path: Path, backend: Backend) -> AsyncIterator[Database]:
    async with backend.migrated(tmp_path / "ledger.db") as database:
        yield database


async def fill(db: Database, leaves: list[bytes]) -> None:
    async with db.transaction() as conn:
        for data in leaves:
            await ledger.append(conn, LeafKind.CUSTODY, data, NOW)


@pytest.fixture
async def filled(db: Database) -> Database:
    await fill(db, LEAVES)
    return db


class Boom(Exception):
    pass


def flipped(value: bytes, position: int) -> bytes:
    position %= len(value)
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1 :]


# ---- vectors and the RFC definitions ------------------------------------------------------


async def test_published_vectors(db: Database) -> None:
    if not VECTORS.is_file():
        pytest.skip(f"{VECTORS} is absent")
    vectors = json.loads(VECTORS.read_text())
    leaves = [bytes.fromhex(h) for h in vectors["leaf_inputs_hex"]]
    roots = [bytes.fromhex(h) for h in vectors["root_hashes_by_size_hex"]]
    async with db.transaction() as conn:
        assert await ledger.root(conn) == roots[0] == EMPTY_ROOT
        for size, data in enumerate(leaves, start=1):
            appended = await ledger.append(conn, LeafKind.EVIDENCE, data, NOW)
            assert (appended.index, appended.tree_size) == (size - 1, size)
            assert appended.root == roots[size] == await ledger.root(conn)
        for size, expected in enumerate(roots):
            assert await ledger.root(conn, size) == expected


async def test_leaves_keep_their_data_and_kind(filled: Database) -> None:
    async with filled.transaction() as conn:
        stored = await ledger.leaf(conn, 7)
        assert (stored.index, stored.kind, stored.data) == (7, LeafKind.CUSTODY, LEAVES[7])
        with pytest.raises(ledger.LedgerError):
            await ledger.leaf(conn, N)


@PROOFS
@given(st.data())
async def test_every_inclusion_proof_verifies_and_a_changed_byte_fails(
    filled: Database, data: st.DataObject
) -> None:
    size = data.draw(st.integers(1, N), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    async with filled.transaction() as conn:
        proof = await ledger.inclusion_proof(conn, index, size)
        root = await ledger.root(conn, size)
    leaf = leaf_hash(LEAVES[index])
    assert root == reference_root(LEAVES[:size])
    assert proof == reference_inclusion(index, LEAVES[:size])
    assert verify_inclusion(leaf, index, size, proof, root)

    position = data.draw(st.integers(0, 10_000), label="byte")
    assert not verify_inclusion(flipped(leaf, position), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flipped(root, position))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="element")
        changed = [*proof[:at], flipped(proof[at], position), *proof[at + 1 :]]
        assert not verify_inclusion(leaf, index, size, changed, root)


@PROOFS
@given(st.data())
async def test_every_consistency_proof_verifies_and_a_changed_byte_fails(
    filled: Database, data: st.DataObject
) -> None:
    size2 = data.draw(st.integers(1, N), label="size2")
    size1 = data.draw(st.integers(1, size2), label="size1")
    async with filled.transaction() as conn:
        proof = await ledger.consistency_proof(conn, size1, size2)
        root1, root2 = await ledger.root(conn, size1), await ledger.root(conn, size2)
    assert proof == reference_consistency(size1, LEAVES[:size2])
    assert verify_consistency(size1, size2, root1, root2, proof)

    position = data.draw(st.integers(0, 10_000), label="byte")
    if size1 < size2:
        assert not verify_consistency(size1, size2, flipped(root1, position), root2, proof)
        assert not verify_consistency(size1, size2, root1, flipped(root2, position), proof)
        at = data.draw(st.integers(0, len(proof) - 1), label="element")
        changed = [*proof[:at], flipped(proof[at], position), *proof[at + 1 :]]
        assert not verify_consistency(size1, size2, root1, root2, changed)


async def test_sizes_beyond_the_log_are_refused(filled: Database) -> None:
    async with filled.transaction() as conn:
        with pytest.raises(ledger.LedgerError):
            await ledger.root(conn, N + 1)
        with pytest.raises(ledger.LedgerError):
            await ledger.inclusion_proof(conn, 0, N + 1)
        with pytest.raises(ledger.LedgerError):
            await ledger.consistency_proof(conn, 1, N + 1)
        with pytest.raises(ValueError):
            await ledger.inclusion_proof(conn, N, N)


async def test_a_missing_node_is_an_error_not_a_wrong_answer(filled: Database) -> None:
    async with filled.transaction() as conn:
        await conn.execute(
            delete(ledger_nodes).where(ledger_nodes.c.level == 8, ledger_nodes.c.node_index == 0)
        )
        with pytest.raises(ledger.LedgerError, match="lacks node"):
            await ledger.root(conn)
        with pytest.raises(ledger.LedgerError, match="lacks node"):
            await ledger.append(conn, LeafKind.CUSTODY, b"more", NOW)


# ---- signed tree heads --------------------------------------------------------------------


async def test_signed_heads_are_stored_and_verify(db: Database) -> None:
    key = Ed25519PrivateKey.generate()
    async with db.transaction() as conn:
        assert await ledger.latest_head(conn) is None
        empty = await ledger.sign_head(conn, key, NOW)
        await ledger.append(conn, LeafKind.CUSTODY, b"one", NOW)
        later = datetime(2026, 1, 6, 1, 0, 0, 123000, tzinfo=UTC)
        head = await ledger.sign_head(conn, key, later)
        assert await ledger.latest_head(conn) == head
        assert await ledger.signed_heads(conn) == [empty, head]
    assert (empty.head.size, empty.head.root) == (0, EMPTY_ROOT)
    assert (head.head.size, head.head.root) == (1, leaf_hash(b"one"))
    assert head.head.timestamp_ms == int(later.timestamp() * 1000)
    assert verify_tree_head(head.head, head.signature, key.public_key())
    other = Ed25519PrivateKey.generate().public_key()
    assert not verify_tree_head(head.head, head.signature, other)


async def test_a_head_signed_with_an_origin_is_also_its_checkpoint(db: Database) -> None:
    key = Ed25519PrivateKey.generate()
    async with db.transaction() as conn:
        await ledger.append(conn, LeafKind.CUSTODY, b"one", NOW)
        plain = await ledger.sign_head(conn, key, NOW)
        await ledger.append(conn, LeafKind.CUSTODY, b"two", NOW)
        named = await ledger.sign_head(conn, key, NOW, origin=ORIGIN)
        assert await ledger.signed_heads(conn) == [plain, named]
    assert plain.checkpoint == ""
    opened = open_checkpoint(named.checkpoint, [verifier_of(ORIGIN, key)])
    assert opened == Checkpoint(ORIGIN, 2, reference_root([b"one", b"two"]))
    assert (named.head.size, named.head.root) == (opened.size, opened.root)


async def test_the_known_size_outlives_the_newest_leaf_rows(filled: Database) -> None:
    """Leaf rows deleted from the end leave a shorter log with no trace in what remains;
    the size is still known from what else names those leaves: their leaf hashes, the
    item and custody rows that point at them, a signed head."""
    key = Ed25519PrivateKey.generate()
    async with filled.transaction() as conn:
        assert await ledger.known_size(conn) == N
        await ledger.sign_head(conn, key, NOW)
        await conn.execute(delete(ledger_leaves).where(ledger_leaves.c.leaf_index >= N - 5))
        assert (await ledger.tree_size(conn), await ledger.known_size(conn)) == (N - 5, N)
        await conn.execute(delete(ledger_nodes).where(ledger_nodes.c.node_index >= N - 10))
        assert await ledger.known_size(conn) == N, "the signed head vouches for N"
        await conn.execute(delete(tree_heads))
        assert await ledger.known_size(conn) == N - 5, "the leaf rows that are left"
        await conn.execute(delete(ledger_leaves).where(ledger_leaves.c.leaf_index >= N - 20))
        assert await ledger.known_size(conn) == N - 10, "the leaf hashes that are left"


@pytest.mark.only_on("sqlite")
async def test_the_known_size_counts_what_items_and_custody_rows_name(victim: Victim) -> None:
    """Someone with the database file (the sqlite3 shell checks no foreign keys) deletes
    every leaf row, leaf hash and signed head: the item and custody rows that point at
    leaves (an item's own, an export's after them) still tell how long the log was."""
    await victim.command("start")
    for said in ("first", "second"):
        await forward(victim, said)
    haven = victim.haven
    async with haven.db.transaction() as conn:
        await custody.record(conn, CustodyEvent("operator", "export", NOW, case_id=1))
        items = (await conn.execute(select(func.max(evidence_items.c.leaf_index)))).scalar_one()
        events = (await conn.execute(select(func.max(custody_events.c.leaf_index)))).scalar_one()
        size = await ledger.tree_size(conn)
    assert size == events + 1 > items + 1, "the export follows the items"
    path = str(haven.db.engine.url.database)
    await deleted_by_hand(path, "ledger_leaves", "ledger_nodes", "tree_heads")
    async with haven.db.transaction() as conn:
        assert await ledger.known_size(conn) == size
    for table, known in (("custody_events", items + 1), ("evidence_items", 0)):
        await deleted_by_hand(path, table)
        async with haven.db.transaction() as conn:
            assert await ledger.known_size(conn) == known


async def deleted_by_hand(path: str, *tables: str) -> None:
    """Every row of ``tables`` deleted by another connection to the file, on a thread: a
    blocking wait for the write lock on the loop would keep Haven from releasing it."""

    def delete_rows() -> None:
        with closing(sqlite3.connect(path)) as raw, raw:
            for table in tables:
                raw.execute(f"DELETE FROM {table}")

    await asyncio.to_thread(delete_rows)


# ---- O(log n) ---------------------------------------------------------------------------


async def append_and_prove(db: Database) -> tuple[int, int, int, int]:
    """Queries run to append one leaf, rows it wrote, queries run to prove one, and the
    proof's length."""
    async with db.transaction() as conn:
        with tracing(conn) as appending:
            appended = await ledger.append(conn, LeafKind.CUSTODY, b"x", NOW)
        with tracing(conn) as proving:
            proof = await ledger.inclusion_proof(conn, appended.index // 3, appended.tree_size)
    # On PostgreSQL an append first takes the log's lock (storage/ledger.py): not a read.
    appending = [s for s in appending if "pg_advisory_xact_lock" not in s]
    reading = len(queries(appending))
    return reading, len(appending) - reading, len(queries(proving)), len(proof)


@pytest.mark.only_on("postgresql")
async def test_on_postgresql_the_lock_is_held_for_one_read_and_one_write(db: Database) -> None:
    """Every statement after the lock keeps every instance's appends waiting. Sizes 0 to
    8 meet an empty border, one subtree and up to three (7 = 4 + 2 + 1)."""
    for data in LEAVES[:9]:
        async with db.transaction() as conn:
            with tracing(conn) as statements:
                await ledger.append(conn, LeafKind.CUSTODY, data, NOW)
        assert len(statements) == 3 and "pg_advisory_xact_lock" in statements[0]
    await assert_log_is(db, LEAVES[:9])


@pytest.mark.only_on("sqlite")
async def test_reads_are_index_lookups_never_scans(filled: Database) -> None:
    async with filled.transaction() as conn:
        with tracing(conn) as statements:
            await ledger.append(conn, LeafKind.CUSTODY, b"x", NOW)
            await ledger.inclusion_proof(conn, 100, N)
            await ledger.consistency_proof(conn, 77, N)
            await ledger.root(conn, 200)
        assert queries(statements)
        for statement in queries(statements):
            plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
            steps = [str(row[-1]) for row in plan]
            assert not any(step.startswith("SCAN") for step in steps), (statement, steps)


async def test_append_and_proof_cost_the_same_few_statements_at_any_size(db: Database) -> None:
    await fill(db, LEAVES[:10])
    small = await append_and_prove(db)
    await fill(db, LEAVES * 6)
    big = await append_and_prove(db)  # a tree of 1,812 leaves: 11 levels
    assert small[0] == big[0] <= 2  # the size and the border nodes
    assert small[2] == big[2] == 1  # a proof is one query
    # The leaf, and the perfect nodes it completes: at most one per level.
    assert 1 <= small[1] <= 1 + 4 and 1 <= big[1] <= 1 + 11
    assert small[3] <= 4 and big[3] <= 11


# ---- appends sharing a group commit (SQLite) ------------------------------------------------


def border_reads(statements: list[str]) -> int:
    return sum(1 for s in queries(statements) if "FROM ledger_nodes" in s)


async def append_in_turn(db: Database, data: bytes, *, fail: bool = False) -> None:
    async with db.transaction() as conn:
        await ledger.append(conn, LeafKind.CUSTODY, data, NOW)
        await asyncio.sleep(0)  # let the others queue up behind this one: one group
        if fail:
            raise Boom(data)


async def assert_log_is(db: Database, leaves: list[bytes]) -> None:
    async with db.transaction() as conn:
        assert await ledger.tree_size(conn) == len(leaves)
        assert await ledger.root(conn) == reference_root(leaves)
        for index in range(len(leaves)):
            proof = await ledger.inclusion_proof(conn, index, len(leaves))
            assert reference_inclusion(index, leaves) == proof


@pytest.mark.only_on("sqlite")
async def test_appends_of_one_group_read_the_border_once(db: Database) -> None:
    await fill(db, LEAVES[:5])
    async with traced(db) as statements:
        await asyncio.gather(*(append_in_turn(db, data) for data in LEAVES[5:37]))
    assert statements.count("COMMIT") < 32
    assert border_reads(statements) == statements.count("COMMIT")
    await assert_log_is(db, LEAVES[:37])


@pytest.mark.only_on("sqlite")
async def test_a_member_rolled_back_after_appending_leaves_no_border_behind(
    db: Database,
) -> None:
    await fill(db, LEAVES[:3])
    failing = {4, 5, 9}
    results = await asyncio.gather(
        *(append_in_turn(db, LEAVES[n], fail=n in failing) for n in range(3, 12)),
        return_exceptions=True,
    )
    assert [isinstance(r, Boom) for r in results] == [n in failing for n in range(3, 12)]
    await assert_log_is(db, [LEAVES[n] for n in range(12) if n not in failing])


@pytest.mark.only_on("sqlite")
async def test_an_append_that_fails_part_way_leaves_no_border_behind(db: Database) -> None:
    await fill(db, LEAVES[:3])
    async with db.transaction() as conn:
        await ledger.append(conn, LeafKind.CUSTODY, LEAVES[3], NOW)
        with pytest.raises(IntegrityError):  # its leaf row has no time: refused
            await ledger.append(conn, LeafKind.CUSTODY, b"refused", cast(datetime, None))
        await ledger.append(conn, LeafKind.CUSTODY, LEAVES[4], NOW)
    await assert_log_is(db, LEAVES[:5])


@pytest.mark.only_on("sqlite")
async def test_a_savepoint_of_the_callers_own_rolled_back_leaves_no_border_behind(
    db: Database,
) -> None:
    await fill(db, LEAVES[:3])
    async with db.transaction() as conn:
        await ledger.append(conn, LeafKind.CUSTODY, LEAVES[3], NOW)
        nested = await conn.begin_nested()
        await ledger.append(conn, LeafKind.CUSTODY, b"undone", NOW)
        await nested.rollback()
        await ledger.append(conn, LeafKind.CUSTODY, LEAVES[4], NOW)
    await assert_log_is(db, LEAVES[:5])


@pytest.mark.only_on("sqlite")
async def test_an_append_outside_a_group_commit_reads_the_log(db: Database) -> None:
    """A connection of the engine's own (a tool's, not a victim's turn) has no group to
    keep a border in: each append reads the log."""
    await fill(db, LEAVES[:5])
    for data in LEAVES[5:8]:
        async with db.engine.begin() as conn:
            await ledger.append(conn, LeafKind.CUSTODY, data, NOW)
    await assert_log_is(db, LEAVES[:8])


@pytest.mark.only_on("sqlite")
async def test_a_later_group_reads_what_another_process_appended(
    db: Database, tmp_path: Path
) -> None:
    """The group that left a border ends (here: rolled back); another process appends at
    the very index that border was for; the next group must read the log, not reuse it."""
    await fill(db, LEAVES[:6])
    with pytest.raises(Boom):
        await append_in_turn(db, b"rolled back", fail=True)
    other_writer_appends(tmp_path / "ledger.db", LEAVES[:6], b"from elsewhere")
    await append_in_turn(db, b"after")
    await assert_log_is(db, [*LEAVES[:6], b"from elsewhere", b"after"])


@pytest.mark.only_on("postgresql")
async def test_appends_of_two_instances_at_once_take_one_index_each(db: Database) -> None:
    """Two instances append while neither has committed: the second waits for the first
    (PostgreSQL has no single writer), then appends after it, and the log stays one tree."""
    await fill(db, LEAVES[:3])
    async with db.transaction() as first:
        taken = await ledger.append(first, LeafKind.CUSTODY, LEAVES[3], NOW)
        second = asyncio.create_task(fill(db, [LEAVES[4]]))
        await wait_until_blocked(db, second)
    await second
    assert taken.index == 3
    await assert_log_is(db, LEAVES[:5])


async def wait_until_blocked(db: Database, task: asyncio.Task[None]) -> None:
    """Until another session of the database waits for a lock, or ``task`` ended."""
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while not task.done():
        async with db.engine.connect() as conn:
            if (await conn.execute(text(waiting))).scalar_one():
                return
        await asyncio.sleep(0.01)


def other_writer_appends(path: Path, earlier: list[bytes], data: bytes) -> None:
    border = CompactRange()
    for leaf in earlier:
        border.append(leaf_hash(leaf))
    created = border.append(leaf_hash(data))
    with closing(sqlite3.connect(path)) as other, other:
        other.execute(
            "INSERT INTO ledger_leaves VALUES (?, 'custody', ?, '2026-01-05 01:00:00')",
            (len(earlier), data),
        )
        other.executemany(
            "INSERT INTO ledger_nodes VALUES (?, ?, ?)",
            [(node.level, node.index, value) for node, value in created],
        )


# ---- the migration ------------------------------------------------------------------------


async def test_migration_creates_exactly_the_evidence_tables(db: Database) -> None:
    def differences(connection: Connection) -> list[object]:
        wanted = MetaData()
        for name in ("cases", *EVIDENCE_TABLES):  # with the table they refer to
            metadata.tables[name].to_metadata(wanted)
        diffs = compare_metadata(MigrationContext.configure(connection), wanted)
        # Other migrations' tables are in the database too: only ours are compared.
        return [diff for diff in diffs if _table_of(diff) in EVIDENCE_TABLES]

    async with db.transaction() as conn:
        assert await conn.run_sync(differences) == []


def _migrate_to(path: Path, revision: str) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()


def test_migration_0008_gives_each_existing_item_its_cases_running_total(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _migrate_to(path, "0007")
    stamp = "2026-01-05 01:00:00.000000"
    with closing(sqlite3.connect(path)) as old, old:
        old.executemany(
            "INSERT INTO cases (id, platform, user_id, chat_id, status, phase, locale, severity,"
            " created_at, updated_at) VALUES (?, 'p', ?, 'c', 'open', '1', 'en', 'low', ?, ?)",
            [(case_id, f"u{case_id}", stamp, stamp) for case_id in (1, 2)],
        )
        old.executemany(
            "INSERT INTO ledger_leaves VALUES (?, 'evidence', x'00', ?)",
            [(index, stamp) for index in range(4)],
        )
        old.executemany(
            "INSERT INTO evidence_items (case_id, item_no, kind, received_at, size, mime_type,"
            " file_name, content_sha256, content_commitment, leaf_index)"
            " VALUES (?, ?, 'text', ?, ?, 'text/plain', '', ?, '', ?)",
            [
                (1, 1, stamp, 100, "a", 0),
                (2, 1, stamp, 7, "b", 1),
                (1, 2, stamp, 30, "c", 2),
                (1, 3, stamp, 5, "d", 3),
            ],
        )
    _migrate_to(path, "head")
    with closing(sqlite3.connect(path)) as new:
        totals = new.execute(
            "SELECT case_id, item_no, case_bytes FROM evidence_items ORDER BY case_id, item_no"
        ).fetchall()
    assert totals == [(1, 1, 100), (1, 2, 130), (1, 3, 135), (2, 1, 7)]


def _table_of(diff: Any) -> str:
    """The table an alembic difference is about (modifications come as lists of tuples)."""
    operation, *details = diff[0] if isinstance(diff, list) else diff
    if operation.endswith("_table"):
        return str(details[0].name)
    if operation.endswith(("_index", "_constraint")):
        return str(details[0].table.name)
    return str(details[1])  # (schema, table, column, ...)


# ---- what append reports, and the audit's bulk reads ------------------------------------------


async def test_append_reports_what_the_stored_log_then_holds(db: Database) -> None:
    async with db.transaction() as conn:
        for index, data in enumerate(LEAVES[:9]):
            appended = await ledger.append(conn, LeafKind.EVIDENCE, data, NOW)
            assert appended == ledger.Appended(
                index=index,
                leaf_hash=leaf_hash(data),
                tree_size=index + 1,
                root=await ledger.root(conn, index + 1),
            )
        assert appended.root == reference_root(LEAVES[:9])
        with pytest.raises(ledger.LedgerError) as missing:
            await ledger.leaf(conn, 9)
        assert str(missing.value) == "leaf 9 is not in the log"
        with pytest.raises(ledger.LedgerError) as beyond:
            await ledger.root(conn, 10)
        assert str(beyond.value).endswith(
            ": the tree size asked for is beyond the log, "
            "or the log is damaged (`haven audit verify` tells which)"
        )


async def test_leaves_in_a_range_come_in_order_and_only_those(filled: Database) -> None:
    async with filled.transaction() as conn:
        found = await ledger.leaves_in(conn, 5, 9)
        assert [(leaf.index, leaf.kind, leaf.data) for leaf in found] == [
            (i, LeafKind.CUSTODY, LEAVES[i]) for i in range(5, 9)
        ]
        assert await ledger.leaves_in(conn, 9, 9) == []
        assert [leaf.index for leaf in await ledger.leaves_in(conn, N - 2, N + 5)] == [N - 2, N - 1]


async def test_leaves_at_finds_each_stored_index_across_batches(db: Database) -> None:
    many = [b"audit-%d" % i for i in range(1200)]
    await fill(db, many)
    wanted = [1199, 3, 700, 501, 500, 499, 5000, 0, 1000]
    async with db.transaction() as conn:
        found = await ledger.leaves_at(conn, wanted)
    assert sorted((leaf.index, leaf.data) for leaf in found) == sorted(
        (i, many[i]) for i in wanted if i < len(many)
    )
    assert {leaf.kind for leaf in found} == {LeafKind.CUSTODY}


async def test_nodes_in_gives_one_level_of_the_tree_in_a_range(filled: Database) -> None:
    async with filled.transaction() as conn:
        leaves = await ledger.nodes_in(conn, 0, 2, 5)
        pairs = await ledger.nodes_in(conn, 1, 3, 4)
        assert await ledger.nodes_in(conn, 0, N, N + 3) == {}
    assert leaves == {i: leaf_hash(LEAVES[i]) for i in range(2, 5)}
    assert pairs == {3: reference_root(LEAVES[6:8])}
