"""Files sealed ahead of their transaction (bot/evidence/intake.py): kept, numbered, receipted
and readable exactly as if sealed inside it — when several victims send files at once,
when the number a file was sealed for is taken by another message first, and when the
same file comes again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from adapters.memory import MemoryAdapter, victim_event
from bot.events import InboundKind
from bot.runtime import Haven
from storage import cases, evidence_items
from storage.blobs import BlobError, BlobStore, Sink
from tests import blob_access
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import attachment, findings, opened, send_file, stored_items


async def blob_count(haven: Haven) -> int:
    return await blob_access.count(haven.blobs)


async def items_of(haven: Haven, case_id: int) -> list[evidence_items.ItemRecord]:
    async with haven.db.transaction() as conn:
        return await evidence_items.for_case(conn, case_id)


def replies_to(adapter: MemoryAdapter, user: str) -> str:
    return "\n".join(message.text for message in adapter.sent[user])


async def test_files_from_many_victims_at_once_are_each_kept_with_their_receipt(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    opened_haven, adapter = haven
    victims = [Victim(opened_haven, adapter, f"v{n}") for n in range(5)]
    for victim in victims:
        await triage(victim)
    files = {
        victim.user: [f"{victim.user} screenshot {k} ".encode() * 200 for k in range(4)]
        for victim in victims
    }

    async def send_all(victim: Victim) -> None:
        for content in files[victim.user]:
            await send_file(victim, attachment(content))

    await asyncio.gather(*(send_all(victim) for victim in victims))

    async with opened_haven.db.transaction() as conn:
        case_ids = {
            victim.user: await cases.open_case_id(conn, adapter.platform, victim.user)
            for victim in victims
        }
    for victim in victims:
        case_id = case_ids[victim.user]
        assert case_id is not None
        items = await items_of(opened_haven, case_id)
        assert [item.item_no for item in items] == [1, 2, 3, 4]
        assert [(await opened(opened_haven, item))[1] for item in items] == files[victim.user]
        said = replies_to(adapter, victim.user)
        for item in items:  # each receipt names its own number, in its own chat
            assert f"Kept safely as evidence #{item.item_no}:" in said
    assert await blob_count(opened_haven) == 20  # each blob named by its item: none left over
    assert await findings(opened_haven) == []


async def test_a_file_whose_number_was_taken_meanwhile_is_sealed_again_for_its_own(
    victim: Victim,
) -> None:
    haven = victim.haven
    await triage(victim)
    await send_file(victim, attachment(b"the first file makes the case's key"))
    first, second = b"one screenshot " * 100, b"another screenshot " * 100
    await asyncio.gather(
        *(
            haven.handle_and_deliver(
                victim_event(
                    victim.adapter.platform,
                    victim.user,
                    InboundKind.ATTACHMENT,
                    attachments=(attachment(content),),
                )
            )
            for content in (first, second)
        )
    )
    items = await stored_items(haven)
    assert [item.item_no for item in items] == [1, 2, 3]
    assert {(await opened(haven, item))[1] for item in items[1:]} == {first, second}
    said = victim.transcript()
    assert "Kept safely as evidence #2:" in said and "Kept safely as evidence #3:" in said
    # Both were sealed ahead as item 2: the one that came second was sealed again as
    # item 3, and what it had written ahead, named by no row, is gone.
    assert await blob_count(haven) == len(items)
    assert await findings(haven) == []


async def test_a_redelivered_or_repeated_file_writes_no_second_blob(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await send_file(victim, attachment(b"the first file makes the case's key"))
    event = victim_event(
        victim.adapter.platform,
        victim.user,
        InboundKind.ATTACHMENT,
        message_id="m-77",
        attachments=(attachment(b"a photo sent once, delivered twice " * 50),),
    )
    await haven.handle_and_deliver(event)
    await haven.handle_and_deliver(event)
    await send_file(victim, attachment(b"a photo sent once, delivered twice " * 50))
    assert len(await stored_items(haven)) == 2
    assert await blob_count(haven) == 2


@pytest.mark.only_on("sqlite")  # on PostgreSQL a file is written with its item, never ahead
async def test_a_file_the_disk_refused_ahead_is_written_in_its_transaction(
    victim: Victim, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    haven = victim.haven
    await triage(victim)
    await send_file(victim, attachment(b"the first file makes the case's key"))
    assert isinstance(haven.blobs, BlobStore)

    def disk_full(make: Callable[[Sink], str]) -> str:
        raise BlobError("cannot store a blob: No space left on device")

    monkeypatch.setattr(haven.blobs, "write", disk_full)
    content = b"a screenshot sent while the disk was briefly full " * 40
    said = await send_file(victim, attachment(content))
    assert "Kept safely as evidence #2:" in "\n".join(m.text for m in said)
    assert "evidence not sealed ahead: cannot store a blob: No space left" in caplog.text
    items = await stored_items(haven)
    assert (await opened(haven, items[-1]))[1] == content
    assert await blob_count(haven) == 2
    assert await findings(haven) == []
