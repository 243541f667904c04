"""storage.audit: every kind of tampering is reported, with the item it concerns.

Each test keeps a few items through the real core, changes one thing behind Haven's back
(a byte of metadata, ciphertext, a leaf, a node, a head), and checks what the audit says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, update

from bot.events import InboundKind
from bot.runtime import Haven
from storage import custody, ledger
from storage import evidence_items as items_rows
from storage.audit import Finding, Problem, audit
from storage.leaves import CustodyEvent
from storage.schema import (
    case_keys,
    custody_events,
    evidence_items,
    ledger_leaves,
    ledger_nodes,
    tree_heads,
)
from tests import blob_access
from tests.conftest import Victim
from tests.evidence.test_evidence import attachment, forward, send_file, stored_items

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)


# On SQLite, chunks proven sound skip the tree and custody checks (storage/audit_sqlite.py);
# on PostgreSQL every chunk is checked thoroughly. The findings must be the same: each
# test runs on both (the backend fixture, through victim).


async def keep_some(victim: Victim) -> Haven:
    """Four items (two texts, two files) and a signed head over them."""
    await forward(victim, "first forwarded message")
    await send_file(victim, attachment(b"\x89PNG first screenshot", name="one.png"))
    await forward(victim, "second forwarded message")
    await send_file(victim, attachment(b"%PDF a document", name="two.pdf", kind="document"))
    haven = victim.haven
    async with haven.db.transaction() as conn:
        await ledger.sign_head(conn, haven.log_key, NOW)
    return haven


async def run_audit(haven: Haven) -> list[Finding]:
    return await audit(haven.db, haven.blobs, haven.keyring, haven.log_key.public_key())


def problems(found: list[Finding]) -> list[tuple[Problem, int | None, int | None]]:
    return [(f.problem, f.leaf_index, f.item_no) for f in found]


async def test_an_untouched_vault_has_no_findings(victim: Victim) -> None:
    haven = await keep_some(victim)
    assert await run_audit(haven) == []


async def test_changed_metadata_is_reported_with_its_item(victim: Victim) -> None:
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        await conn.execute(
            update(evidence_items)
            .where(evidence_items.c.item_no == 3)
            .values(received_at=NOW - timedelta(days=3))
        )
    [finding] = await run_audit(haven)
    assert (finding.problem, finding.case_id, finding.item_no, finding.leaf_index) == (
        Problem.ITEM_DIFFERS,
        1,
        3,
        2,
    )
    assert "case 1, item 3" in str(finding)


async def test_changed_ciphertext_in_a_blob_is_reported(victim: Victim) -> None:
    haven = await keep_some(victim)
    item = (await stored_items(haven))[1]
    assert item.blob is not None
    await blob_access.flip_last_bit(haven.blobs, item.blob)
    assert problems(await run_audit(haven)) == [(Problem.BLOB_CORRUPTED, 1, 2)]


async def test_a_missing_blob_is_reported(victim: Victim) -> None:
    haven = await keep_some(victim)
    item = (await stored_items(haven))[3]
    assert item.blob is not None
    await blob_access.lose(haven.blobs, item.blob)
    assert problems(await run_audit(haven)) == [(Problem.BLOB_MISSING, 3, 4)]


async def test_ciphertext_moved_between_items_does_not_decrypt(victim: Victim) -> None:
    haven = await keep_some(victim)
    first, _, third, _ = await stored_items(haven)
    async with haven.db.transaction() as conn:
        for item, other in ((first, third), (third, first)):
            await conn.execute(
                update(evidence_items)
                .where(evidence_items.c.item_no == item.item_no)
                .values(sealed=other.sealed)
            )
    assert problems(await run_audit(haven)) == [
        (Problem.CONTENT_UNREADABLE, 0, 1),
        (Problem.CONTENT_UNREADABLE, 2, 3),
    ]


async def test_a_changed_recorded_hash_is_reported(victim: Victim) -> None:
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        await conn.execute(
            update(evidence_items)
            .where(evidence_items.c.item_no == 1)
            .values(content_sha256="0" * 64)
        )
    [finding] = await run_audit(haven)
    assert (finding.problem, finding.item_no) == (Problem.CONTENT_CHANGED, 1)
    assert finding.detail == "SHA-256"


async def test_a_changed_leaf_byte_is_reported_once(victim: Victim) -> None:
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        stored = await ledger.leaf(conn, 1)
        changed = stored.data.replace(b'"size":', b'"size":1')
        await conn.execute(
            update(ledger_leaves).where(ledger_leaves.c.leaf_index == 1).values(data=changed)
        )
    assert problems(await run_audit(haven)) == [(Problem.LEAF_CHANGED, 1, None)]


async def test_reordered_leaves_are_reported(victim: Victim) -> None:
    """Swap two leaves with their hashes: every leaf still hashes right, the tree does not."""
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        zero, one = await ledger.leaf(conn, 0), await ledger.leaf(conn, 1)
        nodes = await ledger.nodes_in(conn, 0, 0, 2)
        for index, leaf, hashed in ((0, one, nodes[1]), (1, zero, nodes[0])):
            await conn.execute(
                update(ledger_leaves)
                .where(ledger_leaves.c.leaf_index == index)
                .values(data=leaf.data, kind=leaf.kind.value)
            )
            await conn.execute(
                update(ledger_nodes)
                .where(ledger_nodes.c.level == 0, ledger_nodes.c.node_index == index)
                .values(hash=hashed)
            )
    found = problems(await run_audit(haven))
    assert (Problem.NODE_CHANGED, None, None) in found
    assert (Problem.ITEM_DIFFERS, 0, 1) in found and (Problem.ITEM_DIFFERS, 1, 2) in found


async def test_a_consistently_rewritten_history_contradicts_the_signed_head(
    victim: Victim,
) -> None:
    """Back-date item 2 everywhere and rebuild the whole tree: only the signed head knows."""
    haven = await keep_some(victim)
    earlier = NOW - timedelta(days=3)
    async with haven.db.transaction() as conn:
        if haven.db.is_sqlite:
            await conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        else:  # its foreign keys are not deferrable: switched off for this transaction
            await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        await conn.execute(
            update(evidence_items).where(evidence_items.c.item_no == 2).values(received_at=earlier)
        )
        await conn.execute(
            update(custody_events).where(custody_events.c.leaf_index == 1).values(at=earlier)
        )
        rewritten = next(i for i in await items_rows.for_case(conn, 1) if i.item_no == 2)
        leaves = await ledger.leaves_in(conn, 0, 4)
        await conn.execute(delete(ledger_nodes))
        await conn.execute(delete(ledger_leaves))
        for stored in leaves:
            data = rewritten.leaf().to_bytes() if stored.index == 1 else stored.data
            await ledger.append(conn, stored.kind, data, NOW)
    assert problems(await run_audit(haven)) == [(Problem.HEAD_ROOT_DIFFERS, None, None)]


async def test_a_forged_or_altered_head_is_reported(victim: Victim) -> None:
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        await ledger.sign_head(conn, Ed25519PrivateKey.generate(), NOW)
        await conn.execute(update(tree_heads).where(tree_heads.c.id == 1).values(root=b"\0" * 32))
    assert [f.problem for f in await run_audit(haven)] == [
        Problem.HEAD_ROOT_DIFFERS,  # the first head, its root altered,
        Problem.HEAD_SIGNATURE_INVALID,  # which breaks its signature too;
        Problem.HEAD_SIGNATURE_INVALID,  # the second, signed by someone else's key
    ]


async def test_a_missing_row_or_leaf_is_reported(victim: Victim) -> None:
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        await conn.execute(delete(evidence_items).where(evidence_items.c.item_no == 2))
        for table in (evidence_items, custody_events):
            await conn.execute(delete(table).where(table.c.leaf_index == 2))
        await conn.execute(delete(ledger_leaves).where(ledger_leaves.c.leaf_index == 2))
    found = await run_audit(haven)
    assert problems(found) == [(Problem.LEAF_MISSING, 2, None), (Problem.ROW_MISSING, 1, 2)]
    assert found[1].case_id == 1


async def test_custody_events_are_audited_like_items(victim: Victim) -> None:
    haven = await keep_some(victim)
    read = CustodyEvent(
        actor="staff:console:alice", action="read", at=NOW, case_id=1, item_no=2, reason="court"
    )
    async with haven.db.transaction() as conn:
        appended = await custody.record(conn, read)
    assert await run_audit(haven) == []
    async with haven.db.transaction() as conn:
        await conn.execute(
            update(custody_events)
            .where(custody_events.c.leaf_index == appended.index)
            .values(reason="curiosity")
        )
    assert problems(await run_audit(haven)) == [(Problem.CUSTODY_DIFFERS, appended.index, 2)]


async def test_a_received_row_moved_onto_another_leaf_is_reported(victim: Victim) -> None:
    haven = await keep_some(victim)
    read = CustodyEvent(actor="staff:console:alice", action="read", at=NOW, case_id=1, item_no=2)
    async with haven.db.transaction() as conn:
        appended = await custody.record(conn, read)
        await conn.execute(delete(custody_events).where(custody_events.c.leaf_index == 4))
        await conn.execute(
            update(custody_events).where(custody_events.c.leaf_index == 1).values(leaf_index=4)
        )
    assert appended.index == 4
    assert problems(await run_audit(haven)) == [
        (Problem.CUSTODY_DIFFERS, 4, 2),
        (Problem.ROW_MISSING, 4, 2),
    ]


async def test_an_erased_case_still_audits_clean(victim: Victim) -> None:
    haven = await keep_some(victim)
    async with haven.db.transaction() as conn:
        await conn.execute(update(case_keys).values(wrapped_key=None, erased_at=NOW))
    for item in await stored_items(haven):
        if item.blob is not None:
            await haven.blobs.adelete(item.blob)
    assert await run_audit(haven) == []


async def test_a_wrong_master_key_is_reported_per_item(victim: Victim) -> None:
    haven = await keep_some(victim)
    from storage.keys import KeyRing, MasterKey

    stranger = KeyRing(MasterKey.generate())
    found = await audit(haven.db, haven.blobs, stranger, haven.log_key.public_key())
    assert [(f.problem, f.item_no) for f in found] == [
        (Problem.KEY_UNUSABLE, number) for number in (1, 2, 3, 4)
    ]


async def test_unknown_messages_do_not_disturb_the_log(victim: Victim) -> None:
    haven = await keep_some(victim)
    await victim._send(InboundKind.UNSUPPORTED)
    await victim._send(InboundKind.FORWARD)
    assert await run_audit(haven) == []
