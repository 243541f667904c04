"""A log whose newest entries were deleted (issue 17): the audit finds the missing leaves
from the leaf hashes and the signed heads that still vouch for them, and Haven refuses
to start on such a log rather than append where they were (every forward then failed)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import delete

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.runtime import Haven, StartupError
from storage import ledger
from storage.audit import Problem
from storage.schema import custody_events, evidence_items, ledger_leaves, ledger_nodes
from tests.conftest import Victim
from tests.evidence.test_evidence import forward
from tests.storage.test_audit import keep_some, run_audit


async def delete_newest_leaf(haven: Haven, *, with_hash: bool = False) -> int:
    """Delete the newest leaf row and the rows naming it (as the foreign keys ask);
    with ``with_hash``, its stored leaf hash too. Returns its index."""
    async with haven.db.transaction() as conn:
        newest = await ledger.tree_size(conn) - 1
        await conn.execute(delete(evidence_items).where(evidence_items.c.leaf_index == newest))
        await conn.execute(delete(custody_events).where(custody_events.c.leaf_index == newest))
        await conn.execute(delete(ledger_leaves).where(ledger_leaves.c.leaf_index == newest))
        if with_hash:
            leaf_hash = (ledger_nodes.c.level == 0) & (ledger_nodes.c.node_index == newest)
            await conn.execute(delete(ledger_nodes).where(leaf_hash))
    return newest


async def test_a_deleted_newest_leaf_is_found_by_its_hash(victim: Victim) -> None:
    haven = await keep_some(victim)
    await forward(victim, "a fifth, after the head")
    newest = await delete_newest_leaf(haven)
    found = await run_audit(haven)
    assert (Problem.LEAF_MISSING, newest) in [(f.problem, f.leaf_index) for f in found]


async def test_a_deleted_newest_leaf_and_its_hash_are_found_by_the_signed_head(
    victim: Victim,
) -> None:
    haven = await keep_some(victim)  # the head covers every leaf
    newest = await delete_newest_leaf(haven, with_hash=True)
    found = await run_audit(haven)
    assert (Problem.LEAF_MISSING, newest) in [(f.problem, f.leaf_index) for f in found]
    assert Problem.HEAD_AHEAD_OF_LOG in [f.problem for f in found]


@pytest.mark.parametrize("with_hash", [False, True])
async def test_haven_refuses_to_start_on_a_log_shorter_than_it_was(
    config: Config, clock: ManualClock, with_hash: bool
) -> None:
    adapter = MemoryAdapter()
    running = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        await keep_some(Victim(running, adapter))
        await delete_newest_leaf(running, with_hash=with_hash)
    finally:
        await running.close()
    with pytest.raises(StartupError) as refused:
        again = await Haven.open(config, {adapter.platform: adapter}, clock)
        await again.close()
    message = str(refused.value)
    assert "\n" not in message
    assert "newest entries were deleted" in message and "haven audit verify" in message


@pytest.mark.only_on("sqlite")
async def test_a_leaf_and_its_hash_deleted_behind_the_foreign_keys_are_found_by_its_rows(
    victim: Victim,
) -> None:
    """The sqlite3 shell enforces no foreign keys: the item row stays, naming the leaf."""
    haven = await keep_some(victim)
    await forward(victim, "a fifth, after the head")
    async with haven.db.transaction() as conn:
        newest = await ledger.tree_size(conn) - 1
    shell = sqlite3.connect(str(haven.db.engine.url.database))
    with shell:
        shell.execute("DELETE FROM ledger_leaves WHERE leaf_index = ?", (newest,))
        shell.execute("DELETE FROM ledger_nodes WHERE level = 0 AND node_index = ?", (newest,))
    shell.close()
    found = await run_audit(haven)
    assert (Problem.LEAF_MISSING, newest) in [(f.problem, f.leaf_index) for f in found]
