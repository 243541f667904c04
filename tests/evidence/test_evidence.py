"""Evidence intake through the real core: receipts, encryption, the log, limits, bad input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.events import Attachment, ForwardOrigin, InboundKind, OriginKind, Outbound
from bot.evidence.filenames import sanitise_filename
from bot.runtime import Haven
from storage import case_keys, custody, evidence_items, ledger, sqlite_connection
from storage.audit import audit
from storage.evidence_items import ItemRecord
from storage.leaves import COMMITMENT_CONTENT_HASH, hash_commitment
from storage.schema import custody_events, outbox
from storage.schema import evidence_items as items_table
from tests import blob_access
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import text_of, triage

LEAKED = "他把我们的聊天记录发到了公司群里 — the screenshots are in the group"


def attachment(
    content: bytes,
    name: str = "photo.png",
    kind: str = "photo",
    mime: str = "",
    size: int | None = None,
) -> Attachment:
    async def fetch() -> bytes:
        return content

    return Attachment(kind=kind, fetch=fetch, file_name=name, mime_type=mime, size=size)


async def forward(victim: Victim, text: str, origin: ForwardOrigin | None = None) -> list[Outbound]:
    origin = origin or ForwardOrigin(kind=OriginKind.USER, sender_name="Zhang San")
    return await victim._send(InboundKind.FORWARD, text=text, forward_origin=origin)


async def send_file(victim: Victim, *files: Attachment) -> list[Outbound]:
    return await victim._send(InboundKind.ATTACHMENT, attachments=files)


async def stored_items(haven: Haven) -> list[ItemRecord]:
    async with haven.db.transaction() as conn:
        found = await evidence_items.for_case(conn, 1)
    return found


async def opened(haven: Haven, item: ItemRecord) -> tuple[bytes, bytes]:
    async with haven.db.transaction() as conn:
        key = await case_keys.data_key(conn, haven.keyring, item.case_id)
    result = await evidence_items.open_item(haven.blobs, key, item)
    return result.salt, result.content


async def findings(haven: Haven) -> list[str]:
    found = await audit(haven.db, haven.blobs, haven.keyring, haven.log_key.public_key())
    return [str(finding) for finding in found]


# ---- receipts ---------------------------------------------------------------------------


async def details(victim: Victim, receipt: Outbound) -> str:
    """The proof behind a receipt: what its "Details" button shows."""
    (button,) = [b for row in receipt.buttons for b in row if b.data.startswith("evd:")]
    shown = await victim.raw_press(button.data)  # cut to fit a phone's screen if long
    return "\n".join(message.text for message in shown)


async def test_a_forward_is_answered_with_a_short_receipt_and_its_proof(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    origin = ForwardOrigin(
        kind=OriginKind.USER,
        sender_name="Zhang San",
        original_date=datetime(2025, 11, 3, 6, 30, tzinfo=UTC),
    )
    replies = await forward(victim, LEAKED, origin)
    short = text_of(
        haven,
        "en",
        "evidence.receipt",
        item_no=1,
        described="message from Zhang San, sent 2025-11-03 14:30",
    )
    assert [reply.text for reply in replies] == [short]
    assert len(short) < 80  # number, sender, original time, kept safely: no jargon
    digest = hashlib.sha256(LEAKED.encode()).hexdigest()
    async with haven.db.transaction() as conn:
        root = await ledger.root(conn, 1)
    expected = text_of(
        haven,
        "en",
        "evidence.details",
        item_no=1,
        received_utc="2026-01-05 01:00:00",
        received_local="2026-01-05 09:00:00",
        timezone="Asia/Shanghai",
        digest=digest,
        log_index=0,
        tree_size=1,
        root=root.hex(),
    )
    assert await details(victim, replies[0]) == expected


@pytest.mark.only_on("sqlite")
async def test_the_running_bots_connection_makes_every_commit_durable(victim: Victim) -> None:
    """A receipt promises the item survives a power cut: the live connection the bot wrote
    the item and its receipt on runs in WAL mode with synchronous=FULL, which makes each
    commit wait for fsync of the WAL (NORMAL would leave the last commits to the OS cache)."""
    haven = victim.haven
    await triage(victim)
    (receipt,) = await forward(victim, LEAKED)
    assert "Kept safely as evidence #1" in receipt.text
    async with haven.db.transaction() as conn:
        live = sqlite_connection.inline_sqlite(conn)
        assert live is not None, "the bot writes through the in-place SQLite connection"
        pragmas = {
            name: live.execute(f"PRAGMA {name}").fetchone()[0]
            for name in ("synchronous", "journal_mode", "foreign_keys")
        }
        through_sqlalchemy = (await conn.exec_driver_sql("PRAGMA synchronous")).scalar()
        items = (await conn.execute(select(func.count()).select_from(items_table))).scalar()
    assert pragmas == {"synchronous": 2, "journal_mode": "wal", "foreign_keys": 1}  # 2 = FULL
    assert through_sqlalchemy == 2
    assert items == 1


async def test_each_item_gets_the_next_number_and_log_position(victim: Victim) -> None:
    await triage(victim)
    await forward(victim, "first")
    replies = await send_file(
        victim, attachment(b"\x89PNG a screenshot"), attachment(b"second file")
    )
    (summary,) = replies  # files that arrive together get one summary receipt
    assert "2 items" in summary.text and "#2 to #3" in summary.text
    proof = await details(victim, summary)
    items = await stored_items(victim.haven)
    for item in items[1:]:
        assert f"{item.content_sha256} · position {item.leaf_index}" in proof
    assert [(i.item_no, i.leaf_index, i.kind) for i in items] == [
        (1, 0, "text"),
        (2, 1, "photo"),
        (3, 2, "photo"),
    ]


async def test_evidence_is_accepted_before_any_question_is_answered(victim: Victim) -> None:
    replies = await forward(victim, "sent straight away")
    assert replies[0].text.startswith("✅ 已妥善保存为第1号证据")  # zh-CN receipt
    assert replies[-1].buttons  # then the language choice, as for any first message


# ---- what is stored ---------------------------------------------------------------------


async def test_a_text_is_kept_sealed_in_its_row_and_decrypts_back(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await forward(victim, LEAKED)
    [item] = await stored_items(haven)
    assert item.blob is None and item.sealed is not None
    assert LEAKED.encode() not in item.sealed
    salt, content = await opened(haven, item)
    assert content == LEAKED.encode() and len(salt) == 32
    digest = hashlib.sha256(content).digest()
    assert item.content_sha256 == digest.hex()
    # Scheme 2: the salted hash of the receipt's hash, not of the content a second time.
    assert item.commitment_scheme == COMMITMENT_CONTENT_HASH
    assert item.content_commitment == hash_commitment(salt, digest)
    assert (item.mime_type, item.file_name, item.size) == (
        "text/plain; charset=utf-8",
        "message.txt",
        len(content),
    )


async def test_a_file_is_kept_encrypted_in_the_blob_store(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    data = b"\x89PNG\r\n" + bytes(range(256)) * 40
    await send_file(victim, attachment(data, mime="image/png"))
    [item] = await stored_items(haven)
    assert item.blob is not None and item.sealed is None
    on_disk = await blob_access.stored_bytes(haven.blobs, item.blob)
    assert data not in on_disk and len(on_disk) == 32 + len(data) + 29
    assert (await opened(haven, item))[1] == data
    assert item.mime_type == "image/png"


async def test_the_leaf_commits_to_metadata_but_reveals_neither_content_nor_names(
    victim: Victim,
) -> None:
    haven = victim.haven
    await triage(victim)
    sent = datetime(2025, 12, 31, 23, 59, 58, tzinfo=UTC)
    origin = ForwardOrigin(
        kind=OriginKind.USER, sender_name="Zhang San", sender_id="4242", original_date=sent
    )
    await forward(victim, "yes", origin)
    [item] = await stored_items(haven)
    async with haven.db.transaction() as conn:
        leaf = await ledger.leaf(conn, item.leaf_index)
    assert leaf.data == item.leaf().to_bytes()
    record = json.loads(leaf.data)
    assert record == {
        "case": 1,
        "content_commitment": item.content_commitment,
        "item": "1-1",
        "kind": "text",
        "mime": "text/plain; charset=utf-8",
        "origin": "user",
        "origin_commitment": item.origin_commitment,
        "original_date": "2025-12-31T23:59:58.000000Z",
        "received_at": "2026-01-05T01:00:00.000000Z",
        "size": 3,
        "type": "evidence",
        "v": 2,
    }
    assert hashlib.sha256(b"yes").hexdigest().encode() not in leaf.data
    assert b"Zhang" not in leaf.data and b"4242" not in leaf.data
    salt, _ = await opened(haven, item)
    assert item.origin is not None and item.origin.sender_name == "Zhang San"
    assert item.origin.commitment(salt) == item.origin_commitment
    assert item.original_date == sent


async def test_receiving_is_a_custody_event_on_the_items_own_leaf(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await forward(victim, LEAKED)
    [item] = await stored_items(haven)
    async with haven.db.transaction() as conn:
        rows = await custody.in_leaf_range(conn, 0, 10)
    [row] = rows
    assert row.leaf_index == item.leaf_index
    assert (row.event.action, row.event.actor, row.event.case_id, row.event.item_no) == (
        custody.RECEIVED,
        custody.VICTIM,
        1,
        1,
    )
    assert row.event.at == item.received_at
    assert await findings(haven) == []


async def test_the_same_bytes_again_get_the_earlier_receipt(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    first = await forward(victim, LEAKED)
    await forward(victim, "something else")
    haven_clock = haven.clock
    assert isinstance(haven_clock, ManualClock)
    haven_clock.advance(datetime(2026, 1, 6, tzinfo=UTC) - haven_clock.now())
    again = await forward(victim, LEAKED, ForwardOrigin(kind=OriginKind.HIDDEN_USER))
    assert again[0].text == f"{text_of(haven, 'en', 'evidence.duplicate')}\n\n{first[0].text}"
    assert len(await stored_items(haven)) == 2
    async with haven.db.transaction() as conn:
        assert await ledger.tree_size(conn) == 2


# ---- limits and bad input ---------------------------------------------------------------


@pytest.fixture
async def small_haven(
    tmp_path: Path, clock: ManualClock
) -> AsyncIterator[tuple[Haven, MemoryAdapter]]:
    config = make_config(
        tmp_path / "small", "\n[limits]\nmax_item_bytes = 1000\nmax_case_bytes = 1500\n"
    )
    adapter = MemoryAdapter()
    opened_haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    yield opened_haven, adapter
    await opened_haven.close()


async def test_an_item_over_the_limit_is_refused_before_it_is_downloaded(
    small_haven: tuple[Haven, MemoryAdapter],
) -> None:
    victim = Victim(*small_haven)
    await triage(victim)

    async def never() -> bytes:
        raise AssertionError("an oversized file must not be downloaded")

    declared = Attachment(kind="video", fetch=never, file_name="clip.mp4", size=5_000_000)
    replies = await send_file(victim, declared)
    assert replies[0].text == text_of(
        victim.haven, "en", "evidence.too_large", size="4.8 MB", limit="1000 B"
    )
    undeclared = await send_file(victim, attachment(b"x" * 1001, size=None))
    assert undeclared[0].text == text_of(
        victim.haven, "en", "evidence.too_large", size="1001 B", limit="1000 B"
    )
    assert await stored_items(victim.haven) == []


async def test_a_case_over_its_total_limit_is_told_so(
    small_haven: tuple[Haven, MemoryAdapter],
) -> None:
    victim = Victim(*small_haven)
    await triage(victim)
    await send_file(victim, attachment(b"a" * 800))
    replies = await send_file(victim, attachment(b"b" * 800))
    assert replies[0].text == text_of(
        victim.haven, "en", "evidence.case_full", used="800 B", size="800 B", limit="1.5 KB"
    )
    assert len(await stored_items(victim.haven)) == 1


async def test_the_case_total_counts_every_item_kept(
    small_haven: tuple[Haven, MemoryAdapter],
) -> None:
    victim = Victim(*small_haven)
    await triage(victim)
    for filler in (b"a", b"b", b"c"):
        await send_file(victim, attachment(filler * 400))
    replies = await send_file(victim, attachment(b"d" * 400))
    assert replies[0].text == text_of(
        victim.haven, "en", "evidence.case_full", used="1.2 KB", size="400 B", limit="1.5 KB"
    )
    await send_file(victim, attachment(b"e" * 300))
    assert [item.size for item in await stored_items(victim.haven)] == [400, 400, 400, 300]


@pytest.mark.parametrize(
    "raw",
    [
        "../../etc/passwd",
        "/abs/path\\win\\name.jpg",
        "invoice\u202egpj.exe",
        "bell\x07and\x1b[31mred.png",
        "..",
        "CON.txt",
        "长" * 200 + ".jpeg",
    ],
)
async def test_hostile_file_names_are_sanitised(victim: Victim, raw: str) -> None:
    await triage(victim)
    await send_file(victim, attachment(raw.encode("utf-8", "surrogatepass"), name=raw))
    [item] = await stored_items(victim.haven)
    name = item.file_name
    assert name == sanitise_filename(raw)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert all(ch.isprintable() and ch not in "\u202e\x07\x1b" for ch in name)
    assert len(name.encode()) <= 120


async def test_unknown_types_are_kept_as_opaque_bytes(victim: Victim) -> None:
    await triage(victim)
    blob = bytes(range(256))
    await send_file(
        victim, attachment(blob, name="thing", kind="sticker", mime="not a mime/type;;")
    )
    [item] = await stored_items(victim.haven)
    assert (item.kind, item.mime_type) == ("file", "application/octet-stream")
    assert (await opened(victim.haven, item))[1] == blob


async def test_a_failed_download_is_answered_and_nothing_is_stored(victim: Victim) -> None:
    await triage(victim)

    async def broken() -> bytes:
        raise OSError("connection reset")

    replies = await send_file(victim, Attachment(kind="photo", fetch=broken))
    assert replies[0].text == text_of(victim.haven, "en", "evidence.fetch_failed")
    assert await stored_items(victim.haven) == []


async def test_nothing_is_kept_and_no_receipt_queued_when_the_transaction_fails(
    victim: Victim, monkeypatch: pytest.MonkeyPatch
) -> None:
    haven = victim.haven
    await triage(victim)

    async def crash(*_: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(custody, "record_received", crash)
    with pytest.raises(RuntimeError):
        await forward(victim, LEAKED)
    async with haven.db.transaction() as conn:
        assert (await conn.execute(select(func.count()).select_from(items_table))).scalar() == 0
        assert (await conn.execute(select(func.count()).select_from(custody_events))).scalar() == 0
        assert await ledger.tree_size(conn) == 0
        texts = (await conn.execute(select(outbox.c.payload))).scalars().all()
    assert not any("#1" in text for text in texts)


# ---- /evidence ---------------------------------------------------------------------------


async def test_the_evidence_command_lists_what_is_kept(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    empty = await victim.command("evidence")
    assert empty[0].text == text_of(haven, "en", "evidence.list_empty")
    await forward(victim, LEAKED)
    await send_file(victim, attachment(b"x" * 3000, name="chat.png"))
    listing = (await victim.command("evidence"))[0].text.splitlines()
    assert listing[0] == text_of(haven, "en", "evidence.list_header", count=2, total="3 KB")
    assert listing[1] == "#1 · message from Zhang San, received 2026-01-05 09:00 · 85 B"
    assert listing[2] == text_of(
        haven,
        "en",
        "evidence.list_item_named",
        item_no=2,
        described="photo, received 2026-01-05 09:00",
        size="2.9 KB",
        name="chat.png",
    )
    assert await findings(haven) == []
