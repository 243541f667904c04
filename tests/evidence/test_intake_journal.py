"""The intake journal: an evidence event is kept (sealed) before its file is fetched,
survives a stop in the middle of the download, and is handled again at start; a file
that cannot be fetched after retries is reported to the victim in their language."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from adapters.memory import MemoryAdapter, victim_event
from bot.adapter import DeliveryError
from bot.clock import ManualClock
from bot.conversation.intake_journal import MAX_REPLAYS
from bot.events import Attachment, ForwardOrigin, Inbound, InboundKind, OriginKind
from bot.evidence.intake import FETCH_RETRY_WAITS
from bot.runtime import Haven
from storage import evidence_items, intake_journal
from storage.schema import intake_journal as journal_table
from tests.conversation.test_journey import text_of

SECRET_TEXT = "the photos are in the group 'neighbours', posted by Liu"


def upload(adapter: MemoryAdapter, fetch: Attachment, message_id: str = "m-1") -> Inbound:
    return victim_event(
        adapter.platform,
        "v1",
        InboundKind.ATTACHMENT,
        message_id=message_id,
        text=SECRET_TEXT,
        attachments=(fetch,),
        forward_origin=ForwardOrigin(kind=OriginKind.USER, sender_name="Liu"),
    )


def document(fetch: object, file_id: str = "file-1", size: int = 5) -> Attachment:
    return Attachment(
        kind="document",
        fetch=fetch,  # type: ignore[arg-type]
        file_name="chat.pdf",
        mime_type="application/pdf",
        size=size,
        platform_file_id=file_id,
    )


async def rows(core: Haven) -> list[bytes]:
    async with core.db.transaction() as conn:
        found = (await conn.execute(select(journal_table.c.sealed))).scalars().all()
    return [bytes(sealed) for sealed in found]


async def next_start(core: Haven) -> None:
    """The journal as the next start finds it. On PostgreSQL each row names the instance
    that journaled it, and an instance replays only rows of instances that are gone: the
    process that stopped is gone, but ``core`` (standing in for both) is alive."""
    async with core.db.transaction() as conn:
        await conn.execute(journal_table.update().values(owner=None))


async def items(core: Haven) -> int:
    async with core.db.transaction() as conn:
        return len(await evidence_items.for_case(conn, 1))


async def test_an_event_stopped_mid_download_is_journaled_and_resumed(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    core, adapter = haven
    downloading = asyncio.Event()

    async def never_finishes() -> bytes:
        downloading.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    event = upload(adapter, document(never_finishes))
    await core.journal.keep(event)  # as the adapter does, before acknowledging it
    handling = asyncio.create_task(core.dispatcher.handle(event))
    await downloading.wait()
    sealed = await rows(core)
    assert len(sealed) == 1, "kept before the download"
    assert b"neighbours" not in sealed[0] and b"chat.pdf" not in sealed[0], "sealed"
    handling.cancel()  # the process stops in the middle of the download
    await asyncio.gather(handling, return_exceptions=True)
    assert await items(core) == 0 and len(await rows(core)) == 1

    fetched: list[tuple[str, int | None]] = []

    async def fetch_again(file_id: str, size: int | None) -> bytes:
        fetched.append((file_id, size))
        return b"%PDF-"

    await next_start(core)
    waiting = await core.journal.waiting(adapter.platform, fetch_again)
    assert [(e.text, e.message_id, e.forward_origin) for e in waiting] == [
        (SECRET_TEXT, "m-1", event.forward_origin)
    ]
    await core.handle_and_deliver(waiting[0])
    assert fetched == [("file-1", 5)]
    assert await items(core) == 2, "the caption and the file"
    assert await rows(core) == [], "handled: the row went with the transaction"
    await core.handle_and_deliver(event)  # Telegram sends the unconfirmed update again
    assert await items(core) == 2


async def test_a_download_that_keeps_failing_is_retried_then_reported(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    core, adapter = haven
    tries: list[int] = []

    async def flaky() -> bytes:
        tries.append(1)
        raise DeliveryError("telegram download failed: Bad Gateway")

    started = clock.now()
    event = upload(adapter, document(flaky))
    await core.journal.keep(event)
    await core.handle_and_deliver(event)
    assert len(tries) == len(FETCH_RETRY_WAITS) + 1
    assert clock.now() - started >= timedelta(seconds=sum(FETCH_RETRY_WAITS))
    told = [m.text for m in adapter.sent["v1"]]
    assert any(text_of(core, "zh-CN", "evidence.fetch_failed") in text for text in told)
    assert await rows(core) == []


async def test_a_passing_download_failure_is_retried_and_the_file_kept(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    core, adapter = haven
    tries: list[int] = []

    async def second_time_lucky() -> bytes:
        tries.append(1)
        if len(tries) == 1:
            raise DeliveryError("telegram download failed: timed out")
        return b"%PDF-1.7"

    await core.handle_and_deliver(upload(adapter, document(second_time_lucky)))
    assert len(tries) == 2
    assert await items(core) == 2


async def test_a_journaled_row_that_cannot_be_read_is_dropped_not_replayed_for_ever(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    core, adapter = haven

    async def unused(file_id: str, size: int | None) -> bytes:
        raise AssertionError("not fetched")

    async def fine() -> bytes:
        return b"x"

    await core.journal.keep(upload(adapter, document(fine)))
    async with core.db.transaction() as conn:
        await conn.execute(journal_table.update().values(sealed=b"\x01" + b"\x00" * 40))
    await next_start(core)
    assert await core.journal.waiting(adapter.platform, unused) == []
    async with core.db.transaction() as conn:
        assert await intake_journal.count(conn) == 0


async def test_only_failed_replays_count_and_a_row_failing_each_time_is_given_up(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    core, adapter = haven

    async def fetch(file_id: str, size: int | None) -> bytes:
        return b"%PDF-"

    async def fine() -> bytes:
        return b"%PDF-"

    event = upload(adapter, document(fine))
    await core.journal.keep(event)
    for _ in range(MAX_REPLAYS + 2):  # starts a stop interrupted: the event stays
        await next_start(core)
        assert len(await core.journal.waiting(adapter.platform, fetch)) == 1
    for _ in range(MAX_REPLAYS):  # replays that ended in an error
        await core.journal.failed(event)
    await next_start(core)
    assert await core.journal.waiting(adapter.platform, fetch) == []
    assert await rows(core) == []
