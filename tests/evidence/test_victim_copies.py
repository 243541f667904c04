"""The victim's own `/export` and `/erase`, through the real core."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import func, select

from adapters.memory import MemoryAdapter
from bot.events import InboundKind
from bot.evidence import erasure
from bot.evidence.store import Store
from bot.evidence.verify import verify_bundle
from bot.runtime import Haven
from storage import case_keys as case_keys_store
from storage.audit import audit
from storage.schema import answers, case_keys, cases, custody_events, outbox
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import LEAKED, attachment, forward, send_file

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def store_of(haven: Haven) -> Store:
    return Store(haven.config, haven.db, haven.blobs, haven.keyring, haven.log_key, haven.clock)


async def scalar(haven: Haven, query: object) -> object:
    async with haven.db.transaction() as conn:
        return (await conn.execute(query)).scalar()  # type: ignore[call-overload]


async def test_export_sends_the_victim_a_bundle_that_verifies_offline(victim: Victim) -> None:
    await triage(victim)
    await forward(victim, LEAKED)
    await send_file(victim, attachment(PHOTO, name="shot.png"))
    (reply,) = await victim.command("export")
    assert reply.file is not None and reply.file.file_name == "haven-case-1-evidence.zip"
    bundle = Path(reply.file.path)
    assert bundle.parent == victim.haven.config.data_dir / "exports"
    report = verify_bundle(bundle, victim.haven.log_key.public_key())
    assert report.ok, report.findings
    assert "2" in reply.text
    who = select(custody_events.c.actor).where(custody_events.c.action == "export")
    assert await scalar(victim.haven, who) == "victim"


async def test_export_with_nothing_kept_says_how_to_keep_something(victim: Victim) -> None:
    await triage(victim)
    (reply,) = await victim.command("export")
    assert reply.file is None
    assert reply.text == victim.haven.playbook.texts.get("en", "export.empty")


async def test_erase_asks_first_and_keeping_changes_nothing(victim: Victim) -> None:
    await triage(victim)
    await forward(victim, LEAKED)
    (question,) = await victim.command("erase")
    assert [b.data for row in question.buttons for b in row] == ["erase:yes:1", "erase:no:1"]
    (kept,) = await victim.press("no:1")
    assert "Nothing was erased" in kept.text
    status = select(cases.c.status).where(cases.c.id == 1)
    assert await scalar(victim.haven, status) == "open"


async def test_erase_confirmed_shreds_the_case_closes_it_and_audits_clean(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await forward(victim, LEAKED)
    (exported,) = await victim.command("export")
    await victim.command("erase")
    (done,) = await victim.press("yes:1")
    assert exported.file is not None
    assert not await asyncio.to_thread(os.path.exists, exported.file.path)
    assert "(1 in all) can never be read again" in done.text
    assert await scalar(haven, select(cases.c.status).where(cases.c.id == 1)) == "closed"
    left = select(func.count()).select_from(answers).where(answers.c.case_id == 1)
    assert await scalar(haven, left) == 0
    unsent = select(outbox.c.payload).where(outbox.c.case_id == 1, outbox.c.state != "sent")
    async with haven.db.transaction() as conn:
        assert set((await conn.execute(unsent)).scalars()) <= {"{}"}  # dropped: blanked
    async with haven.db.transaction() as conn:
        assert await erasure.erased(conn, 1)
    assert await audit(haven.db, haven.blobs, haven.keyring, haven.log_key.public_key()) == []
    again = await victim.raw_press("erase:yes:1")  # the old button, pressed once more
    assert again and all("can never be read" not in m.text for m in again)
    assert await scalar(haven, select(func.max(cases.c.id))) == 2  # a fresh start


async def test_a_held_case_is_not_erased_and_the_victim_is_told_why(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await forward(victim, LEAKED)
    await erasure.hold(store_of(haven), 1, actor="operator", reason="police request")
    await victim.command("erase")
    (refused,) = await victim.press("yes:1")
    assert "legal hold" in refused.text
    async with haven.db.transaction() as conn:
        assert not await erasure.erased(conn, 1)
        assert await case_keys_store.data_key(conn, haven.keyring, 1)


async def test_another_cases_erase_button_does_nothing(
    victim: Victim, haven: tuple[Haven, MemoryAdapter]
) -> None:
    other = Victim(haven[0], haven[1], "v2")
    await triage(other)
    await triage(victim)
    await victim.raw_press("erase:yes:1")  # case 1 is v2's
    async with victim.haven.db.transaction() as conn:
        assert not await erasure.erased(conn, 1)


async def test_a_redelivered_export_writes_no_second_bundle(victim: Victim) -> None:
    await triage(victim)
    await forward(victim, LEAKED)
    first = await victim._send(InboundKind.COMMAND, command="export", message_id="e1")
    again = await victim._send(InboundKind.COMMAND, command="export", message_id="e1")
    assert len(first) == 1 and again == []
    exports = (
        select(func.count()).select_from(custody_events).where(custody_events.c.action == "export")
    )
    assert await scalar(victim.haven, exports) == 1


async def test_a_case_with_nothing_kept_yet_is_erased_for_good_too(victim: Victim) -> None:
    # No evidence, so no case key to shred: the erasure is recorded all the same.
    haven = victim.haven
    await triage(victim)
    await victim.command("erase")
    await victim.press("yes:1")
    async with haven.db.transaction() as conn:
        assert await erasure.erased(conn, 1)
        row = (await conn.execute(select(case_keys).where(case_keys.c.case_id == 1))).one()
    assert row.wrapped_key is None and row.erased_at == haven.clock.now()
    assert await scalar(haven, select(cases.c.status).where(cases.c.id == 1)) == "closed"
