"""Reminders as a victim meets them: scheduled, said in local time, fired once, answered.

Real core and SQLite behind the in-memory adapter; time is a ManualClock that starts on
Monday 5 January 2026 at 09:00 in Asia/Shanghai (01:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.events import Outbound
from bot.runtime import Haven, StartupError
from storage import cases
from storage.schema import reminders
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import finish_step, text_of, triage

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def said(haven: Haven, key: str, locale: str = "en") -> str:
    return text_of(haven, locale, f"reminder.{key}")


async def fire(victim: Victim, clock: ManualClock, delta: timedelta) -> int:
    clock.advance(delta)
    fired = await victim.haven.scheduler.fire_due()
    await victim.haven.sender.drain()
    return fired


def reminder_messages(victim: Victim) -> list[Outbound]:
    return [m for m in victim.adapter.sent[victim.user] if m.key.startswith("reminder:")]


def button(message: Outbound, action: str) -> str:
    return next(b.data for row in message.buttons for b in row if b.data.startswith(f"r:{action}:"))


async def rows(haven: Haven) -> list[dict[str, object]]:
    async with haven.db.transaction() as conn:
        found = await conn.execute(select(reminders).order_by(reminders.c.id))
        return [dict(row._mapping) for row in found]


async def open_haven(tmp_path: Path, clock: ManualClock, extra: str) -> tuple[Haven, Victim]:
    adapter = MemoryAdapter()
    haven = await Haven.open(make_config(tmp_path / "data", extra), {"memory": adapter}, clock)
    return haven, Victim(haven, adapter)


# ---- scheduling and firing -----------------------------------------------------------------


async def test_showing_an_item_schedules_its_reminder_and_says_when_in_local_time(
    victim: Victim,
) -> None:
    haven = victim.haven
    await triage(victim)
    sent = victim.adapter.sent[victim.user]
    confirmation = f"{said(haven, 'scheduled')} Mon 5 Jan, 09:30"
    assert sent[-1].text == confirmation
    assert text_of(haven, "en", "item.forward_evidence.title") in sent[-2].text
    (row,) = await rows(haven)
    assert (row["item_id"], row["state"], row["fire_at"]) == (
        "forward_evidence",
        "pending",
        T0 + timedelta(minutes=30),
    )
    assert haven.scheduler.next_wake == T0 + timedelta(minutes=30)


async def test_a_reminder_fires_once_with_its_buttons(victim: Victim, clock: ManualClock) -> None:
    haven = victim.haven
    await triage(victim)
    assert await fire(victim, clock, timedelta(minutes=29)) == 0
    assert await fire(victim, clock, timedelta(minutes=1)) == 1
    assert await fire(victim, clock, timedelta(hours=5)) == 0
    (message,) = reminder_messages(victim)
    assert message.text.startswith(said(haven, "due"))
    assert text_of(haven, "en", "item.forward_evidence.title") in message.text
    assert said(haven, "late") not in message.text
    labels = [b.label for row in message.buttons for b in row]
    keys = ("btn_done", "btn_hour", "btn_morning", "btn_not_relevant")
    assert labels == [said(haven, key) for key in keys]


@pytest.mark.parametrize(("action", "state"), [("done", "done"), ("skip", "cancelled")])
async def test_completing_or_skipping_the_item_cancels_its_reminder(
    victim: Victim, clock: ManualClock, action: str, state: str
) -> None:
    await triage(victim)
    await victim.press(f"forward_evidence={action}")
    assert await fire(victim, clock, timedelta(hours=2)) == 0
    assert reminder_messages(victim) == []
    assert [row["state"] for row in await rows(victim.haven)] == [state]


async def test_done_on_the_reminder_ticks_off_the_item_the_victim_is_at(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    await triage(victim)
    await fire(victim, clock, timedelta(minutes=30))
    (message,) = reminder_messages(victim)
    replies = await victim.raw_press(button(message, "done"))
    assert replies[0].text.startswith(text_of(haven, "en", "ui.item_done_ack"))
    assert text_of(haven, "en", "item.screen_record.title") in replies[-1].text
    assert [row["state"] for row in await rows(haven)] == ["done"]
    again = await victim.raw_press(button(message, "done"))
    assert [r.text for r in again] == [said(haven, "closed")]


async def test_snoozing_a_fired_reminder_fires_it_again_once_and_old_buttons_go_stale(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    await triage(victim)
    await fire(victim, clock, timedelta(minutes=30))
    (first,) = reminder_messages(victim)
    replies = await victim.raw_press(button(first, "hour"))
    assert [r.text for r in replies] == [f"{said(haven, 'snoozed')} Mon 5 Jan, 10:30"]
    # Pressed twice: still one reminder, moved again, nothing doubled.
    clock.advance(timedelta(minutes=5))
    await victim.raw_press(button(first, "hour"))
    (row,) = await rows(haven)
    assert (row["state"], row["fire_at"]) == ("pending", T0 + timedelta(minutes=95))
    assert await fire(victim, clock, timedelta(minutes=59)) == 0
    assert await fire(victim, clock, timedelta(minutes=1)) == 1
    assert await fire(victim, clock, timedelta(hours=3)) == 0
    first_again, second = reminder_messages(victim)
    assert first_again == first
    assert second.key.endswith(":2")
    stale = await victim.raw_press(button(first, "hour"))
    assert [r.text for r in stale] == [said(haven, "stale")]
    (row,) = await rows(haven)
    assert (row["state"], row["rounds"]) == ("fired", 2)


async def test_tomorrow_morning_is_the_end_of_quiet_hours_local_time(
    victim: Victim, clock: ManualClock
) -> None:
    await triage(victim)
    await fire(victim, clock, timedelta(minutes=30))
    (message,) = reminder_messages(victim)
    replies = await victim.raw_press(button(message, "morning"))
    assert replies[0].text.endswith("Tue 6 Jan, 08:00")
    (row,) = await rows(victim.haven)
    assert row["fire_at"] == datetime(2026, 1, 6, 0, 0, tzinfo=UTC)


async def test_not_relevant_ends_every_reminder_of_the_item(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    await triage(victim)
    await finish_step(victim, 1)
    await victim.press("path=police")
    schedule = [row for row in await rows(haven) if row["item_id"] == "police_report"]
    assert [r["fire_at"] - r["created_at"] for r in schedule] == [
        timedelta(hours=24),
        timedelta(days=7),
    ]
    await fire(victim, clock, timedelta(hours=24))
    title = text_of(haven, "en", "item.police_report.title")
    (message,) = [m for m in reminder_messages(victim) if title in m.text]
    replies = await victim.raw_press(button(message, "no"))
    # The item waited on the checklist: it is skipped there too, and the flow moves on.
    assert replies[0].text.startswith(text_of(haven, "en", "ui.item_skipped_ack"))
    assert all(title not in r.text for r in replies)
    resumed = "\n".join(m.text for m in await victim.command("start"))
    assert title not in resumed
    async with haven.db.transaction() as conn:
        case = await cases.get(conn, 1)
    assert case is not None
    assert {e.item_id: e.state for e in case.checklist}["police_report"] == "skipped"
    await fire(victim, clock, timedelta(days=8))
    assert [m for m in reminder_messages(victim) if title in m.text] == [message]
    states = {r["state"] for r in await rows(haven) if r["item_id"] == "police_report"}
    assert states == {"dismissed"}


async def test_follow_ups_are_counted_from_done_and_said_right_after_the_ack(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    await triage(victim)  # source: a hotel, so the preservation request is on the list
    for item in ("forward_evidence", "screen_record", "note_spread", "secure_accounts"):
        await victim.press(f"{item}=done")
    clock.advance(timedelta(hours=1))
    replies = await victim.press("preservation_request=done")
    # The ack, the check-in time, the next item: as few messages as fit a phone's screen.
    paragraphs = "\n\n".join(reply.text for reply in replies).split("\n\n")
    assert len(replies) <= 2
    assert paragraphs[0] == text_of(haven, "en", "ui.item_done_ack")
    assert paragraphs[1] == f"{said(haven, 'scheduled_check_in')} Tue 6 Jan, 10:00"
    assert text_of(haven, "en", "item.report_content.title") in paragraphs[2]
    assert replies[-1].buttons
    await victim.press("report_content=skip")  # skipped: no check-in about it
    pending = [r["item_id"] for r in await rows(haven) if r["state"] == "pending"]
    assert pending == ["preservation_request"]
    await fire(victim, clock, timedelta(hours=24))
    (message,) = reminder_messages(victim)
    assert message.text.startswith(said(haven, "check_in"))


async def test_reminders_command_lists_what_is_coming_in_local_time(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    empty = await victim.command("reminders")
    assert empty[0].text.startswith(said(haven, "list_empty", "zh-CN"))
    await triage(victim)
    (listing,) = await victim.command("reminders")
    title = text_of(haven, "en", "item.forward_evidence.title")
    assert listing.text.startswith(f"{said(haven, 'list_header')}\n• Mon 5 Jan, 09:30 · {title}")
    assert f"{said(haven, 'quiet_on')} 22:00–08:00" in listing.text
    assert [b.data for row in listing.buttons for b in row] == ["r:quiet:off"]


# ---- quiet hours and urgency ---------------------------------------------------------------

NIGHT = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
NEXT_MORNING = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)  # 08:00


async def test_quiet_hours_hold_non_urgent_reminders_until_morning(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    clock.set(NIGHT)
    await triage(victim)
    last = victim.adapter.sent[victim.user][-1].text
    assert last == f"{said(haven, 'scheduled')} Tue 6 Jan, 08:00\n{said(haven, 'after_quiet')}"
    assert await fire(victim, clock, timedelta(hours=9, minutes=59)) == 0
    assert await fire(victim, clock, timedelta(minutes=1)) == 1


async def test_urgent_reminders_are_never_held(victim: Victim, clock: ManualClock) -> None:
    clock.set(NIGHT)
    await triage(victim, extortion="yes")
    (row,) = await rows(victim.haven)
    assert row["urgent"] and row["fire_at"] == NIGHT + timedelta(minutes=30)
    assert await fire(victim, clock, timedelta(minutes=30)) == 1


async def test_a_threat_mentioned_later_releases_held_reminders(
    victim: Victim, clock: ManualClock
) -> None:
    clock.set(NIGHT)
    await triage(victim)
    assert (await rows(victim.haven))[0]["fire_at"] == NEXT_MORNING
    await victim.text("他们说知道我住哪，要找人打我")
    (row,) = await rows(victim.haven)
    assert row["urgent"] and row["fire_at"] == NIGHT + timedelta(minutes=30)
    assert victim.haven.scheduler.next_wake == NIGHT + timedelta(minutes=30)


async def test_the_victim_can_switch_quiet_hours_off_and_on(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    clock.set(NIGHT)
    await triage(victim)
    replies = await victim.command("quiet", "off")
    assert replies[0].text == said(haven, "quiet_off")
    assert (await rows(haven))[0]["fire_at"] == NIGHT + timedelta(minutes=30)
    assert haven.scheduler.next_wake == NIGHT + timedelta(minutes=30)
    replies = await victim.raw_press("r:quiet:on")  # the button under /quiet's answer
    assert replies[0].text.startswith(said(haven, "quiet_on"))
    assert (await rows(haven))[0]["fire_at"] == NEXT_MORNING
    status = await victim.command("quiet")
    assert [b.data for row in status[0].buttons for b in row] == ["r:quiet:off"]


async def test_quiet_hours_switched_off_for_the_service(tmp_path: Path, clock: ManualClock) -> None:
    haven, victim = await open_haven(tmp_path, clock, "[reminders]\nquiet_hours_enabled = false\n")
    try:
        clock.set(NIGHT)
        await triage(victim)
        assert (await rows(haven))[0]["fire_at"] == NIGHT + timedelta(minutes=30)
        replies = await victim.command("quiet", "on")
        assert replies[0].text == said(haven, "quiet_unavailable")
    finally:
        await haven.close()


# ---- pauses, strangers, bad buttons ----------------------------------------------------------


async def test_a_paused_case_holds_its_reminders_until_start_then_they_come_late(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    await triage(victim)
    await victim.command("stop")
    assert await fire(victim, clock, timedelta(hours=2)) == 0
    await victim.command("start")
    assert await fire(victim, clock, timedelta(0)) == 1
    (message,) = reminder_messages(victim)
    assert message.text.endswith(f"{said(haven, 'late')} Mon 5 Jan, 09:30")


async def test_another_persons_reminder_button_is_answered_as_unknown(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, clock: ManualClock
) -> None:
    core, adapter = haven
    await triage(victim)
    await fire(victim, clock, timedelta(minutes=30))
    (message,) = reminder_messages(victim)
    stranger = Victim(core, adapter, user="v2")
    replies = await stranger.raw_press(button(message, "no"))
    assert [r.text for r in replies] == [said(core, "unknown", "zh-CN")]
    assert [row["state"] for row in await rows(core)] == ["fired"]


@pytest.mark.parametrize("data", ["r:done:x.1", "r:done:1", "r:quiet:maybe", "r:"])
async def test_malformed_reminder_buttons_get_the_stale_button_answer(
    victim: Victim, data: str
) -> None:
    await triage(victim)
    before = await rows(victim.haven)
    replies = await victim.raw_press(data)
    assert replies[0].text.startswith(text_of(victim.haven, "en", "ui.stale_button"))
    assert await rows(victim.haven) == before


async def test_a_reminder_for_a_closed_case_can_still_be_answered(
    victim: Victim, clock: ManualClock
) -> None:
    haven = victim.haven
    await triage(victim)
    await finish_step(victim, 1)
    await victim.press("path=complaint")
    await finish_step(victim, 2)
    await finish_step(victim, 3)  # watch_respread done: check-ins at 3d, 7d, 15wd
    await fire(victim, clock, timedelta(days=3))
    message = reminder_messages(victim)[-1]
    assert text_of(haven, "en", "item.watch_respread.title") in message.text
    replies = await victim.raw_press(button(message, "done"))
    assert [r.text for r in replies] == [said(haven, "done")]
    async with haven.db.transaction() as conn:
        from storage import cases

        assert await cases.find_open(conn, "memory", victim.user) is None


# ---- configuration ---------------------------------------------------------------------------


async def test_a_deadline_override_and_working_days(tmp_path: Path, clock: ManualClock) -> None:
    clock.set(datetime(2026, 3, 6, 1, 0, tzinfo=UTC))  # Friday 09:00
    haven, victim = await open_haven(tmp_path, clock, '[deadlines]\nforward_evidence = "1wd"\n')
    try:
        await triage(victim)
        (row,) = await rows(haven)
        assert row["fire_at"] == datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # Monday 18:00
    finally:
        await haven.close()


async def test_an_override_for_an_unknown_item_stops_haven(
    tmp_path: Path, clock: ManualClock
) -> None:
    with pytest.raises(StartupError, match=r"deadlines\.no_such_item"):
        await open_haven(tmp_path, clock, '[deadlines]\nno_such_item = "1h"\n')


async def test_delay_factor_shrinks_every_delay(tmp_path: Path, clock: ManualClock) -> None:
    haven, victim = await open_haven(tmp_path, clock, "[reminders]\ndelay_factor = 0.001\n")
    try:
        await triage(victim)
        (row,) = await rows(haven)
        assert row["fire_at"] == T0 + timedelta(seconds=1.8)
    finally:
        await haven.close()
