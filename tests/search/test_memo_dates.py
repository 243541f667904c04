"""Dates and times in /memo as people write them, read in the case's time zone.

The table runs against a fixed "now" (Sunday 6 December 2026, 16:00 in Shanghai); the
journey test moves the manual clock there and reads the timeline back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from bot.search.stated_time import Stated, read_stated_time
from storage import notes
from tests.conftest import Victim
from tests.conversation.test_journey import triage

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai, a Sunday
MORNING = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TZ)  # type: ignore[arg-type]


TIME, DAY, WRITTEN = notes.STATED_TIME, notes.STATED_DAY, notes.WRITTEN

# (what the note says, when it is placed, how precisely, a day assumed for a bare time)
TABLE = [
    ("11月3日 15:30 在公司群看到", at(2026, 11, 3, 15, 30), TIME, False),
    ("Nov 3 15:30 saw it in the company group", at(2026, 11, 3, 15, 30), TIME, False),
    ("11/03 15:30 saw it in the company group", at(2026, 11, 3, 15, 30), TIME, False),
    ("11月3日下午3点半 在群里看到", at(2026, 11, 3, 15, 30), TIME, False),
    ("昨天晚上8点 他发到了群里", at(2026, 12, 5, 20, 0), TIME, False),
    ("前天 他又发了一次", at(2026, 12, 4), DAY, False),
    ("last Friday at 8pm he sent it to my boss", at(2026, 12, 4, 20, 0), TIME, False),
    ("上周五晚上发到了家族群", at(2026, 11, 27), DAY, False),
    ("yesterday evening he called my mother", at(2026, 12, 5), DAY, False),
    ("two days ago the link was shared", at(2026, 12, 4), DAY, False),
    ("2025-11-03 14:30 发到公司群", at(2025, 11, 3, 14, 30), TIME, False),
    ("2025年11月2日 he called my boss", at(2025, 11, 2), DAY, False),
    ("12月25日 发到群里", at(2025, 12, 25), DAY, False),  # no year, ahead: last year's
    ("Dec 25 posted in the forum", at(2025, 12, 25), DAY, False),
    ("下午3点一刻 看到", at(2026, 12, 6, 15, 15), TIME, True),
    ("上午10点 看到有人转发", at(2026, 12, 6, 10, 0), TIME, True),
    ("凌晨两点他又发了", at(2026, 12, 6, 2, 0), TIME, True),
    ("saw it at 15:30 in the group", at(2026, 12, 6, 15, 30), TIME, True),
    ("saw it at 17:30 in the group", at(2026, 12, 5, 17, 30), TIME, True),  # not yet today
    ("a colleague told me about it", None, WRITTEN, False),
    ("he may post them again", None, WRITTEN, False),
    ("他说三天后发出去", None, WRITTEN, False),  # ahead: what he threatened, not when
    ("我一点都不知道是谁", None, WRITTEN, False),
]


@pytest.mark.parametrize(("text", "when", "basis", "assumed"), TABLE)
def test_a_note_is_placed_at_the_local_time_it_states(
    text: str, when: datetime | None, basis: str, assumed: bool
) -> None:
    assert read_stated_time(text, NOW, TZ) == Stated(when, basis, day_assumed=assumed)


@pytest.mark.parametrize(
    ("text", "unclear"),
    [
        ("03/11/2025 posted in the group", "03/11/2025"),  # 3 November or 11 March
        ("03/11/2025 发到群里", "03/11/2025"),
        ("2025-02-30 broken date", "2025-02-30"),
        ("2025-02-30 坏日期", "2025-02-30"),
    ],
)
def test_a_date_that_could_be_read_two_ways_is_asked_about(text: str, unclear: str) -> None:
    assert read_stated_time(text, NOW, TZ) == Stated(None, WRITTEN, unclear=unclear)


def test_a_bare_time_is_the_latest_that_has_passed_in_the_case_zone() -> None:
    assert read_stated_time("在群里看到 08:15", MORNING, TZ).at == at(2026, 12, 6, 8, 15)
    assert read_stated_time("在群里看到 18:15", MORNING, TZ).at == at(2026, 12, 5, 18, 15)
    new_york = ZoneInfo("America/New_York")  # 03:00 there
    stated = read_stated_time("saw it at 23:00", NOW, new_york)
    assert stated.at == datetime(2026, 12, 5, 23, 0, tzinfo=new_york)


async def test_memo_dates_reach_the_timeline_and_unclear_ones_are_asked(
    victim: Victim, clock: ManualClock
) -> None:
    clock.set(NOW)
    await triage(victim)
    (placed,) = await victim.command("memo", "11月3日下午3点半 在公司群看到")
    assert "2026-11-03 15:30" in placed.text
    (english,) = await victim.command("memo", "Nov 3 15:30 he posted it again")
    assert "2026-11-03 15:30" in english.text
    (asked,) = await victim.command("memo", "03/11/2025 posted in the group")
    assert "03/11/2025" in asked.text and "haven't kept" in asked.text
    (bare,) = await victim.command("memo", "saw it at 17:30")
    assert "2026-12-05 17:30" in bare.text and "no day" in bare.text
    (timeline,) = await victim.command("timeline")
    assert "2026-11-03 15:30 · Your note #1" in timeline.text
    assert "2026-11-03 15:30 · Your note #2" in timeline.text
    assert "Your note #4" not in timeline.text  # the unclear one was not kept
    assert "2026-12-06 16:00" not in timeline.text  # nothing silently placed today


async def reach_item(victim: Victim, item_id: str) -> None:
    for _ in range(10):
        datas = [b.data for b in victim.prompt_buttons()]
        if any(f":i:{item_id}=" in d for d in datas):
            return
        await victim.raw_press(next(d for d in datas if d.endswith("=done")))
    raise AssertionError(f"item {item_id} never shown")


async def test_a_note_typed_while_asked_where_it_was_seen_is_kept(
    victim: Victim, clock: ManualClock
) -> None:
    clock.set(NOW)
    await triage(victim)
    await reach_item(victim, "note_spread")
    replies = await victim.text("昨天晚上8点 在“同城交友”群里看到，是小王告诉我的")
    shown = "\n".join(m.text for m in replies)
    assert "note #1" in shown and "2026-12-05 20:00" in shown
    assert "Thank you for writing" not in shown
    (timeline,) = await victim.command("timeline")
    assert "2026-12-05 20:00 · Your note #1: 昨天晚上8点" in timeline.text
    await victim.press("note_spread=done")  # the item's buttons still answer
    assert "note_spread" not in " ".join(b.data for b in victim.adapter.last_buttons(victim.user))
