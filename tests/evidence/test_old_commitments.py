"""Items kept before issue 21 — their log leaves commit to SHA-256(salt || content),
scheme 1 — keep verifying beside the items kept since (scheme 2, the salted hash of the
receipt's hash): in the audit, in /evidence, in an exported bundle checked offline, and
after their database is migrated."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from sqlalchemy import update

from bot.evidence import export
from bot.evidence.verify import verify_bundle
from bot.runtime import Haven
from storage import case_keys, custody, evidence_items, ledger
from storage.evidence_items import ItemRecord
from storage.leaves import (
    COMMITMENT_CONTENT,
    COMMITMENT_CONTENT_HASH,
    SALT_SIZE,
    LeafKind,
    content_commitment,
    item_id,
)
from storage.schema import evidence_items as items_table
from storage.vault import seal, seal_joined
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import (
    attachment,
    findings,
    forward,
    opened,
    send_file,
    stored_items,
)
from tests.evidence.test_victim_copies import store_of
from tests.storage.test_ledger import _migrate_to

OLD_FILE = b"\x89PNG\r\n\x1a\n kept before issue 21 " + bytes(range(256)) * 64
OLD_TEXT = "kept before issue 21, as a text"


async def keep_as_before_issue_21(haven: Haven, content: bytes, *, as_file: bool) -> ItemRecord:
    """What intake stored before issue 21, step by step as it did: the content sealed
    with its salt, the leaf committing to SHA-256(salt || content), the row, and the
    custody event — in one transaction of case 1."""
    salt = os.urandom(SALT_SIZE)
    now = haven.clock.now()
    async with haven.db.transaction() as conn:
        usage = await evidence_items.usage(conn, 1)
        key = await case_keys.data_key(conn, haven.keyring, 1)
        number = usage.last_item_no + 1
        sealed_for = item_id(1, number)
        blob, sealed = None, None
        if as_file:
            blob = await haven.blobs.put_in(conn, seal_joined(key, (salt, content), sealed_for))
        else:
            sealed = seal(key, salt + content, sealed_for)
        draft = ItemRecord(
            case_id=1,
            item_no=number,
            kind="photo" if as_file else "text",
            received_at=now,
            size=len(content),
            mime_type="image/png" if as_file else "text/plain; charset=utf-8",
            file_name="old.png" if as_file else "message.txt",
            content_sha256=hashlib.sha256(content).hexdigest(),
            content_commitment=content_commitment(salt, content),
            leaf_index=-1,
            blob=blob,
            sealed=sealed,
            commitment_scheme=COMMITMENT_CONTENT,
        )
        appended = await ledger.append(conn, LeafKind.EVIDENCE, draft.leaf().to_bytes(), now)
        stored = replace(draft, leaf_index=appended.index)
        await evidence_items.insert_item(conn, stored, usage.total_bytes + stored.size)
        await custody.record_received(conn, 1, number, now, appended.index)
    return stored


async def a_case_with_old_and_new_items(victim: Victim) -> list[ItemRecord]:
    await triage(victim)
    await send_file(victim, attachment(b"a screenshot kept since issue 21 " * 300))
    await keep_as_before_issue_21(victim.haven, OLD_FILE, as_file=True)
    await keep_as_before_issue_21(victim.haven, OLD_TEXT.encode(), as_file=False)
    await forward(victim, "a text kept since issue 21")
    return await stored_items(victim.haven)


async def test_old_and_new_items_both_audit_clean_and_open(victim: Victim) -> None:
    items = await a_case_with_old_and_new_items(victim)
    schemes = [item.commitment_scheme for item in items]
    assert schemes == [
        COMMITMENT_CONTENT_HASH,
        COMMITMENT_CONTENT,
        COMMITMENT_CONTENT,
        COMMITMENT_CONTENT_HASH,
    ]
    async with victim.haven.db.transaction() as conn:
        leaves = [await ledger.leaf(conn, item.leaf_index) for item in items]
    assert [json.loads(leaf.data)["v"] for leaf in leaves] == schemes
    assert (await opened(victim.haven, items[1]))[1] == OLD_FILE
    assert await findings(victim.haven) == []


async def test_an_old_item_claimed_for_the_new_scheme_is_caught(victim: Victim) -> None:
    """Each item is checked under its own scheme: a row switched to the other is found
    (its leaf says otherwise, and its content does not give the commitment that way)."""
    items = await a_case_with_old_and_new_items(victim)
    old = items[1]
    async with victim.haven.db.transaction() as conn:
        await conn.execute(
            update(items_table)
            .where(items_table.c.leaf_index == old.leaf_index)
            .values(commitment_scheme=COMMITMENT_CONTENT_HASH)
        )
    found = await findings(victim.haven)
    about_it = {line.split(" ", 1)[0] for line in found if f"item {old.item_no})" in line}
    assert {"item_differs", "content_changed"} <= about_it, found


async def test_the_evidence_list_shows_old_items_uncontradicted(victim: Victim) -> None:
    await a_case_with_old_and_new_items(victim)
    listing = "\n".join(message.text for message in await victim.command("evidence"))
    assert "#2" in listing and "#3" in listing
    assert "does not match its tamper-evident log" not in listing


async def test_a_bundle_of_old_and_new_items_verifies_offline(
    victim: Victim, tmp_path: Path
) -> None:
    await a_case_with_old_and_new_items(victim)
    store = store_of(victim.haven)
    out = tmp_path / "case-1.zip"
    await export.export_case(store, 1, out, actor="operator:alice", reason="court")
    report = verify_bundle(out, victim.haven.log_key.public_key())
    assert report.ok, report.problems()
    assert [item.commitment_ok for item in report.items] == [True] * 4


def test_items_stored_before_the_migration_are_scheme_1(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _migrate_to(path, "0021")
    stamp = "2026-01-05 01:00:00.000000"
    with closing(sqlite3.connect(path)) as old, old:
        old.execute(
            "INSERT INTO cases (id, platform, user_id, chat_id, status, phase, locale, severity,"
            " created_at, updated_at) VALUES (1, 'p', 'u', 'c', 'open', '1', 'en', 'low', ?, ?)",
            (stamp, stamp),
        )
        old.execute("INSERT INTO ledger_leaves VALUES (0, 'evidence', x'00', ?)", (stamp,))
        old.execute(
            "INSERT INTO evidence_items (case_id, item_no, kind, received_at, size, mime_type,"
            " file_name, content_sha256, content_commitment, leaf_index, case_bytes)"
            " VALUES (1, 1, 'text', ?, 1, 'text/plain', '', 'a', 'b', 0, 1)",
            (stamp,),
        )
    _migrate_to(path, "head")
    with closing(sqlite3.connect(path)) as new:
        schemes = new.execute("SELECT commitment_scheme FROM evidence_items").fetchall()
    assert schemes == [(COMMITMENT_CONTENT,)]
