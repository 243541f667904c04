"""Bad input gets a short, kind answer; nothing crashes and the case stays consistent."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from adapters.memory import MemoryAdapter, victim_event
from bot.clock import ManualClock
from bot.config import Config
from bot.content.playbook import load_playbook
from bot.events import (
    Attachment,
    ChatKind,
    ChatRef,
    ForwardOrigin,
    Identity,
    InboundKind,
    OriginKind,
    Outbound,
)
from bot.runtime import Haven
from storage import cases
from storage.cases import CaseRecord
from tests.conftest import Victim
from tests.conversation.test_journey import text_of, triage


async def current_case(victim: Victim) -> CaseRecord:
    async with victim.haven.db.transaction() as conn:
        case = await cases.find_open(conn, victim.adapter.platform, victim.user)
    assert case is not None
    return case


def progress(case: CaseRecord) -> tuple[object, ...]:
    """What a bad message must never change: where the victim is and what they said."""
    return (
        case.phase,
        case.step,
        case.question_id,
        dict(case.answers),
        case.checklist,
        case.locale,
    )


async def test_unknown_command(victim: Victim) -> None:
    await triage(victim)
    before = progress(await current_case(victim))
    replies = await victim.command("frobnicate")
    assert replies[0].text == text_of(
        victim.haven, "en", "ui.unknown_command", command="/frobnicate"
    )
    assert progress(await current_case(victim)) == before


async def test_empty_and_control_only_messages(victim: Victim) -> None:
    await triage(victim)
    before = progress(await current_case(victim))
    for text in ("", "   ", "\x00\x07\u202e\u2066"):
        replies = await victim.text(text)
        assert replies[0].text == text_of(victim.haven, "en", "ui.empty_message")
    assert progress(await current_case(victim)) == before


async def test_hundred_kilobyte_message(victim: Victim) -> None:
    await triage(victim)
    before = progress(await current_case(victim))
    replies = await victim.text("a" * 100_000)
    assert replies[0].text == text_of(victim.haven, "en", "ui.too_long", limit=4000)
    assert progress(await current_case(victim)) == before


async def test_bidi_override_and_emoji_are_answered_kindly(victim: Victim) -> None:
    await triage(victim)
    before = progress(await current_case(victim))
    for text in ("\u202egnp.exe\u202c hello", "😢😢😢", "🙏 thank you"):
        replies = await victim.text(text)
        assert replies[0].text.startswith(text_of(victim.haven, "en", "ui.free_text_ack"))
        assert replies[-1].buttons, "the current item is shown again with its buttons"
    assert progress(await current_case(victim)) == before


def switch_offers(replies: list[Outbound]) -> list[Outbound]:
    return [
        r for r in replies if any(b.data.endswith(":sw:zh-CN") for row in r.buttons for b in row)
    ]


async def test_message_in_the_other_language_offers_a_switch(victim: Victim) -> None:
    await triage(victim)
    offers = switch_offers(await victim.text("我不知道该怎么办，请帮帮我"))
    assert offers
    switch = next(b for row in offers[0].buttons for b in row if b.data.endswith(":sw:zh-CN"))
    replies = await victim.raw_press(switch.data)
    assert replies[0].text.startswith(text_of(victim.haven, "zh-CN", "ui.language_changed"))


async def test_the_switch_is_offered_once_and_remembered_across_a_restart(
    config: Config, clock: ManualClock
) -> None:
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    victim = Victim(haven, adapter)
    await triage(victim)
    assert switch_offers(await victim.text("我不知道该怎么办"))
    assert not switch_offers(await victim.text("他们又发了一次"))
    await haven.close()
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        replies = await Victim(haven, adapter).text("请帮帮我")
    finally:
        await haven.close()
    assert not switch_offers(replies)
    assert replies[0].text.startswith(text_of(haven, "en", "ui.free_text_ack"))


async def test_stale_and_garbage_buttons(victim: Victim) -> None:
    await triage(victim)
    before = progress(await current_case(victim))
    for data in ("1:a:safety=yes", "garbage", "", "999999:i:nope=done", "x:y:z:w"):
        replies = await victim.raw_press(data)
        assert replies[0].text.startswith(text_of(victim.haven, "en", "ui.stale_button"))
        assert replies[-1].buttons
    assert progress(await current_case(victim)) == before


async def test_answer_for_the_wrong_question_is_stale(victim: Victim) -> None:
    await victim.command("start")
    await victim.press("lang:en")
    await victim.press("ok:")
    seq = victim.adapter.last_buttons(victim.user)[0].data.split(":")[0]
    replies = await victim.raw_press(f"{seq}:a:minor=yes")
    assert replies[0].text.startswith(text_of(victim.haven, "en", "ui.stale_button"))
    assert "minor" not in (await current_case(victim)).answers


async def test_forwards_and_files_are_not_silently_dropped(victim: Victim) -> None:
    await triage(victim)
    before = progress(await current_case(victim))
    origin = ForwardOrigin(kind=OriginKind.HIDDEN_USER, sender_name="someone")
    replies = await victim._send(InboundKind.FORWARD, text="leaked", forward_origin=origin)
    assert "#1" in replies[0].text

    async def fetch() -> bytes:
        return b"bytes"

    attachment = Attachment(kind="photo", fetch=fetch, file_name="../../etc/passwd")
    replies = await victim._send(InboundKind.ATTACHMENT, attachments=(attachment,))
    assert "#2" in replies[0].text
    empty = await victim._send(InboundKind.FORWARD, forward_origin=origin)
    assert empty[0].text == text_of(victim.haven, "en", "ui.empty_message")
    assert progress(await current_case(victim)) == before


async def test_unsupported_kind(victim: Victim) -> None:
    await triage(victim)
    replies = await victim._send(InboundKind.UNSUPPORTED)
    assert replies[0].text == text_of(victim.haven, "en", "ui.unsupported")


async def test_redelivered_message_is_handled_once(victim: Victim) -> None:
    await triage(victim)
    first = await victim._send(InboundKind.COMMAND, command="help", message_id="m-1")
    again = await victim._send(InboundKind.COMMAND, command="help", message_id="m-1")
    assert first and not again


async def test_flood_from_one_sender_is_warned_once_then_dropped(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    core, adapter = haven
    victim = Victim(core, adapter, "flooder")
    bystander = Victim(core, adapter, "calm")
    replies = [await victim.text(f"message {n}") for n in range(40)]
    flood = text_of(core, "zh-CN", "ui.flood")
    warned = [r for batch in replies for r in batch if r.text == flood]
    assert len(warned) == 1
    assert not replies[-1], "messages over the budget are dropped"
    assert await bystander.command("start"), "other victims are unaffected"
    clock.advance(timedelta(minutes=2))
    assert await victim.command("help")


async def test_group_and_staff_chats_do_not_open_cases(haven: tuple[Haven, MemoryAdapter]) -> None:
    core, adapter = haven
    event = victim_event(adapter.platform, "g1", InboundKind.TEXT, text="hi")
    group = dataclasses.replace(event, chat=ChatRef(adapter.platform, "g1", ChatKind.GROUP))
    await core.handle_and_deliver(group)
    staff = dataclasses.replace(
        event,
        identity=Identity(adapter.platform, "s1"),
        chat=ChatRef(adapter.platform, "staff", ChatKind.STAFF),
    )
    await core.handle_and_deliver(staff)
    async with core.db.transaction() as conn:
        assert await cases.find_open(conn, adapter.platform, "g1") is None
        assert await cases.find_open(conn, adapter.platform, "s1") is None


async def test_content_change_after_restart_keeps_the_case_usable(
    config: Config, clock: ManualClock, tmp_path: Path
) -> None:
    adapter = MemoryAdapter()
    core = await Haven.open(config, {adapter.platform: adapter}, clock)
    victim = Victim(core, adapter)
    await triage(victim)
    current = (await current_case(victim)).checklist[0].item_id
    old_buttons = victim.adapter.last_buttons(victim.user)
    await core.close()

    full = load_playbook()
    step_one = full.steps[0]
    trimmed_step = dataclasses.replace(
        step_one, items=tuple(i for i in step_one.items if i.id != current)
    )
    trimmed = dataclasses.replace(full, steps=(trimmed_step, *full.steps[1:]))
    core = await Haven.open(config, {adapter.platform: adapter}, clock, playbook=trimmed)
    victim = Victim(core, adapter)
    replies = await victim.raw_press(next(b.data for b in old_buttons if b.data.endswith("=done")))
    assert replies[0].text.startswith(text_of(core, "en", "ui.stale_button"))
    case = await current_case(victim)
    assert current not in {e.item_id for e in case.checklist}
    assert replies[-1].buttons
    await core.close()
