"""A victim's `/export` bundle is plaintext: once a platform that takes the bytes has it,
Haven's copy goes; the console's copy, which the person is shown, stays."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import update

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.content.prompts import Reply
from bot.delivery.handover_files import HandoverFiles
from bot.delivery.outbox import RetryPolicy, queue_reply
from bot.events import ChatKind, ChatRef, OutboundFile
from bot.evidence.export import EXPORTS_DIR
from bot.runtime import Haven
from storage import schema
from tests.chat_rig import dead_letters
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import LEAKED, forward
from tests.evidence.test_timeline import exported as bundle_of


async def exported(victim: Victim) -> Path:
    await triage(victim)
    await forward(victim, LEAKED)
    return await bundle_of(victim)


async def test_a_delivered_bundle_is_deleted_where_the_platform_took_the_bytes(
    config: Config, clock: ManualClock
) -> None:
    adapter = MemoryAdapter(uploads_files=True)
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        bundle = await exported(Victim(haven, adapter))
        assert bundle.parent == config.data_dir / EXPORTS_DIR
        await haven.sender.settle()  # deleted once the delivery is marked
        assert not await asyncio.to_thread(bundle.exists)
    finally:
        await haven.close()


async def test_the_consoles_kind_of_delivery_keeps_the_bundle_it_shows(victim: Victim) -> None:
    assert not victim.adapter.uploads_files
    bundle = await exported(victim)
    await victim.haven.sender.settle()  # where an upload's copy would be gone
    assert await asyncio.to_thread(bundle.exists)


async def test_a_bundle_that_could_not_be_delivered_is_kept_for_the_retry(
    config: Config, clock: ManualClock
) -> None:
    adapter = MemoryAdapter(uploads_files=True)
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    haven.sender.policy = RetryPolicy(attempts=1)  # the first failure makes a dead letter
    try:
        victim = Victim(haven, adapter)
        await triage(victim)
        await forward(victim, LEAKED)
        adapter.fail_next = 1
        await victim.command("export")
        assert await dead_letters(haven) == 1
        (bundle,) = (config.data_dir / EXPORTS_DIR).iterdir()
        await haven.sender.sweep_handover_files()
        assert await asyncio.to_thread(bundle.exists)
    finally:
        await haven.close()


async def write(path: Path) -> Path:
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, b"PK\x05\x06" + bytes(18))
    return path


async def test_the_sweep_keeps_only_what_a_message_still_needs(
    haven: tuple[Haven, MemoryAdapter], tmp_path: Path
) -> None:
    core, _ = haven
    exports = core.config.data_dir / EXPORTS_DIR
    pending = await write(exports / "case-1-pending.zip")
    shown = await write(exports / "case-1-console.zip")
    uploaded = await write(exports / "case-1-uploaded.zip")
    await write(exports / "case-2-crashed.zip")  # its message was never written
    outside = await write(tmp_path / "not-an-export.zip")
    now = core.clock.now()
    async with core.db.transaction() as conn:
        rows = {}
        for platform, path in (
            ("memory", pending),
            ("console", shown),
            ("memory", uploaded),
            ("memory", exports / ".." / ".." / outside.name),
        ):
            chat = ChatRef(platform, "v1", ChatKind.PRIVATE)
            reply = Reply("your bundle", file=OutboundFile(str(path), "b.zip", "application/zip"))
            rows[path] = await queue_reply(conn, chat, reply, None, now)
        sent = (rows[shown], rows[uploaded], rows[exports / ".." / ".." / outside.name])
        await conn.execute(
            update(schema.outbox).where(schema.outbox.c.id.in_(sent)).values(state="sent")
        )
    files = HandoverFiles(exports)
    assert await files.sweep(core.db, uploading={"memory"}) == 2
    left = await asyncio.to_thread(lambda: sorted(p.name for p in exports.iterdir()))
    assert left == [shown.name, pending.name]
    assert await asyncio.to_thread(outside.exists)


def test_only_files_directly_in_the_directory_are_held(tmp_path: Path) -> None:
    files = HandoverFiles(tmp_path / "exports")
    assert files.holds(str(tmp_path / "exports" / "case-1.zip"))
    assert not files.holds(str(tmp_path / "exports" / ".." / "haven.db"))
    assert not files.holds(str(tmp_path / "exports" / "sub" / "case-1.zip"))
    assert not files.holds("/etc/passwd")
