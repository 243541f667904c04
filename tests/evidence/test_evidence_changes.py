"""Edits and deletions of messages that carried evidence: never a rewrite, always linked."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.events import InboundKind
from storage import ledger
from storage.schema import cases, custody_events
from tests.conftest import Victim
from tests.conversation.test_journey import text_of, triage
from tests.evidence.test_evidence import attachment, findings, opened, stored_items

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


async def captioned_photo(victim: Victim, caption: str, message_id: str) -> None:
    await victim._send(
        InboundKind.ATTACHMENT,
        text=caption,
        attachments=(attachment(PHOTO),),
        message_id=message_id,
    )


async def test_an_edited_caption_is_a_new_item_linked_to_the_first(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await captioned_photo(victim, "posted in the group at 15:30", "m1")
    replies = await victim._send(
        InboundKind.EDIT,
        text="posted in the group at 16:30",
        edited_message_id="m1",
        message_id="m1-edit",
    )
    assert "#1" in replies[0].text and "original stays exactly as it was" in replies[0].text
    caption, photo, edit = await stored_items(haven)
    assert (caption.edit_of, photo.edit_of, edit.edit_of) == (None, None, 1)
    assert (await opened(haven, caption))[1] == b"posted in the group at 15:30"
    assert (await opened(haven, edit))[1] == b"posted in the group at 16:30"
    async with haven.db.transaction() as conn:
        leaf = json.loads((await ledger.leaf(conn, edit.leaf_index)).data)
    assert leaf["edit_of"] == "1-1"
    assert await findings(haven) == []


async def test_an_edited_caption_is_read_for_danger_before_it_is_kept(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await captioned_photo(victim, "from the group", "m2")
    (reply, *rest) = await victim._send(
        InboundKind.EDIT, text="我真的不想活了", edited_message_id="m2", message_id="m2-edit"
    )
    assert reply.text.startswith(text_of(haven, "en", "signal.self_harm.reply"))
    said = "\n".join(m.text for m in (reply, *rest))
    assert "#1" in said, "and the edit is kept, linked to the caption"
    assert len(await stored_items(haven)) == 3


async def test_a_deletion_is_logged_and_the_evidence_stays(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await captioned_photo(victim, "from the hotel system", "m7")
    before = await stored_items(haven)
    (reply,) = await victim._send(InboundKind.DELETE, edited_message_id="m7", message_id="d7")
    assert "#1, #2" in reply.text
    assert await stored_items(haven) == before
    query = select(custody_events.c.item_no).where(custody_events.c.action == "deleted_on_platform")
    async with haven.db.transaction() as conn:
        logged = sorted((await conn.execute(query)).scalars())
    assert logged == [1, 2]
    assert await findings(haven) == []


async def test_an_edited_chat_line_is_read_for_danger_but_not_kept(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await victim.text("ok", message_id="t1")
    await victim._send(
        InboundKind.EDIT, text="我不想活了", edited_message_id="t1", message_id="t1-edit"
    )
    assert await stored_items(haven) == []
    async with haven.db.transaction() as conn:
        severity = (await conn.execute(select(cases.c.severity))).scalar()
    assert severity == "critical"
