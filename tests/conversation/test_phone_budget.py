"""Every message of a whole journey fits a phone's screen (about 400 Chinese or 600 Latin
characters, bot/content/phone.py), in each language; Chinese messages use Chinese
punctuation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import ManualClock
from bot.content import phone
from tests.conftest import Victim
from tests.content.test_chinese_punctuation import ascii_punctuation_in_chinese
from tests.evidence.test_evidence import attachment, forward, send_file

TRIAGE = ("safety=no", "extortion=yes")
AFTER_AMOUNT = ("minor=no", "spread=group_chats", "leaked=chats", "leaked=address", "md:leaked")


async def walk(victim: Victim, clock: ManualClock, lang: str) -> None:
    """The journey as a person lives it: questions, evidence, every command, every
    "why" and every draft, each step to its end."""

    async def tick() -> None:
        clock.advance(timedelta(seconds=5))  # a person's pace, under the flood guard

    await victim.command("start")
    await victim.press(f"lang:{lang}")
    await victim.press("ok:")
    for key in TRIAGE:
        await tick()
        await victim.press(key)
    await victim.text("5000元")
    for key in AFTER_AMOUNT:
        await tick()
        await victim.press(key)
    for key in ("safety_recheck=no", "source=hotel"):
        if any(b.data.endswith(key) for b in victim.prompt_buttons()):
            await victim.press(key)
    await forward(victim, "pay or I post them")
    await send_file(victim, attachment(b"\x89PNG one"), attachment(b"\x89PNG two"))
    for command, args in (
        ("evidence", ""),
        ("timeline", ""),
        ("help", ""),
        ("memo", "11月3日下午3点半 在公司群看到"),
        ("search", "pay"),
        ("reminders", ""),
        ("status", ""),
    ):
        await tick()
        await victim.command(command, args)
    await victim.press("chg:")
    await tick()
    await victim.command("start")  # back where we were
    for _ in range(60):
        await tick()
        buttons = [b.data for b in victim.prompt_buttons()]
        for action in ("=why", "=draft"):
            for data in (d for d in buttons if d.endswith(action)):
                await victim.raw_press(data)
        chosen = next((d for d in buttons if d.endswith(("=done", "path=complaint"))), None)
        if chosen is None:
            return
        await victim.raw_press(chosen)
    raise AssertionError("the journey did not end")


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_every_message_of_a_journey_fits_a_phone_screen(
    victim: Victim, clock: ManualClock, lang: str
) -> None:
    await walk(victim, clock, lang)
    said = [m.text for m in victim.adapter.sent[victim.user]]
    assert "\n".join(said).count("✅") >= 2  # receipts and the case closed were reached
    longest = max(said, key=phone.width)
    assert phone.width(longest) <= phone.SCREEN, longest
    if lang == "zh-CN":
        assert [hit for text in said for hit in ascii_punctuation_in_chinese(text)] == []
