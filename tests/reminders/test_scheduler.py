"""The reminder timer: exactly once across restarts, two processes and clock jumps.

Reminders are written straight into the database, as a running Haven would have left
them; the scheduler under test only ever sees the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.runtime import Haven
from bot.staff.briefing import next_occurrence
from storage import cases, reminders
from storage.reminders import NewReminder
from storage.schema import outbox
from storage.schema import reminders as reminder_rows
from tests.conftest import make_config

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

ITEMS = ("forward_evidence", "police_report", "watch_respread", "report_content")


@pytest.fixture
async def opened() -> AsyncIterator[list[Haven]]:
    """Every Haven a test opens on the shared data directory; closed at the end."""
    havens: list[Haven] = []
    yield havens
    for haven in havens:
        await haven.close()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    """These tests watch the reminder timer alone: no daily briefing to wake up for."""
    return make_config(tmp_path / "data", "[briefing]\nenabled = false\n")


async def start(havens: list[Haven], config: Config, clock: ManualClock) -> Haven:
    haven = await Haven.open(config, {"memory": MemoryAdapter()}, clock)
    havens.append(haven)
    return haven


async def seed(haven: Haven, times: list[datetime], now: datetime, item: str = "") -> None:
    """One case with a reminder at each time (several follow-ups of a few real items)."""
    async with haven.db.transaction() as conn:
        case = await cases.create(
            conn, platform="memory", user_id="u1", chat_id="u1", locale="en", now=now
        )
        new = [
            NewReminder(case.id, item or ITEMS[n % len(ITEMS)], n, "until_done", False, at, at)
            for n, at in enumerate(times)
        ]
        await reminders.add(conn, new, now)


async def sent_keys(haven: Haven) -> list[str]:
    """The reminder key of every reminder message in the outbox."""
    async with haven.db.transaction() as conn:
        payloads = (await conn.execute(select(outbox.c.payload))).scalars().all()
    return [key for p in payloads if (key := json.loads(p).get("key", "")).startswith("reminder:")]


async def reminder_texts(haven: Haven) -> list[str]:
    async with haven.db.transaction() as conn:
        payloads = (await conn.execute(select(outbox.c.payload))).scalars().all()
    return [json.loads(p)["text"] for p in payloads if "reminder:" in json.loads(p).get("key", "")]


async def states(haven: Haven) -> list[tuple[str, int]]:
    async with haven.db.transaction() as conn:
        found = await conn.execute(select(reminder_rows.c.state, reminder_rows.c.rounds))
        return [(row.state, row.rounds) for row in found]


def late_label(haven: Haven) -> str:
    return haven.playbook.texts.get("en", "reminder.late")


async def test_restart_with_1000_pending_of_which_200_overdue_fires_each_exactly_once(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    t0 = clock.now()
    first = await start(opened, config, clock)
    soon = [t0 + timedelta(seconds=10 * n) for n in range(1, 201)]  # all within the hour
    later = [t0 + timedelta(hours=2, minutes=n) for n in range(800)]
    await seed(first, soon + later, t0)
    await first.close()
    opened.remove(first)

    clock.advance(timedelta(hours=1))  # Haven was down for an hour
    second = await start(opened, config, clock)
    assert await second.scheduler.rearm() == 200
    texts = await reminder_texts(second)
    assert len(texts) == 200 and all(late_label(second) in text for text in texts)
    assert second.scheduler.next_wake == t0 + timedelta(hours=2)
    assert await second.scheduler.fire_due() == 0  # nothing twice

    clock.advance(timedelta(days=1))
    assert await second.scheduler.fire_due() == 800
    await second.close()
    opened.remove(second)

    third = await start(opened, config, clock)
    assert await third.scheduler.rearm() == 0
    # No reminder left to wake for: only the daily retention round (bot/evidence/retention.py).
    round_at = next_occurrence(clock.now(), config.briefing.time_of_day, config.tz)
    assert third.scheduler.next_wake == round_at
    keys = await sent_keys(third)
    assert len(keys) == len(set(keys)) == 1000
    assert set(await states(third)) == {("fired", 1)}


async def test_two_instances_on_one_database_fire_each_reminder_once(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    one = await start(opened, config, clock)
    two = await start(opened, config, clock)
    t0 = clock.now()
    await seed(one, [t0 + timedelta(milliseconds=n) for n in range(1000)], t0)
    clock.advance(timedelta(seconds=2))
    one.scheduler.batch = two.scheduler.batch = 25  # many small claims, so they interleave
    fired = await asyncio.gather(one.scheduler.fire_due(), two.scheduler.fire_due())
    assert sum(fired) == 1000
    keys = await sent_keys(one)
    assert len(keys) == len(set(keys)) == 1000
    assert set(await states(two)) == {("fired", 1)}


async def test_a_clock_jumping_backward_fires_nothing_early_and_nothing_twice(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=30)], t0)
    await haven.scheduler.sweep()
    clock.set(t0 + timedelta(minutes=30))
    await haven.scheduler.sweep()
    assert len(await sent_keys(haven)) == 1
    with caplog.at_level(logging.WARNING, logger="bot.reminders.scheduler"):
        clock.set(t0 - timedelta(hours=1))
        await haven.scheduler.sweep()
    assert "clock jumped backward" in caplog.text
    clock.set(t0 + timedelta(minutes=30))
    await haven.scheduler.sweep()
    assert len(await sent_keys(haven)) == 1


async def test_a_reminder_waits_for_its_time_after_the_clock_jumped_back(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=30)], t0)
    clock.set(t0 - timedelta(hours=2))
    await haven.scheduler.sweep()
    assert await sent_keys(haven) == []
    clock.set(t0 + timedelta(minutes=29))
    await haven.scheduler.sweep()
    assert await sent_keys(haven) == []
    clock.set(t0 + timedelta(minutes=30))
    await haven.scheduler.sweep()
    assert len(await sent_keys(haven)) == 1


async def test_a_clock_that_did_not_jump_raises_no_warning(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    with caplog.at_level(logging.WARNING, logger="bot.reminders.scheduler"):
        for _ in range(3):
            await haven.scheduler.sweep()
    assert "clock jumped" not in caplog.text


async def test_a_stopped_timer_fires_nothing(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=1)], t0)
    await haven.scheduler.stop()
    clock.advance(timedelta(minutes=2))
    assert await haven.scheduler.fire_due() == 0
    assert await sent_keys(haven) == [] and await states(haven) == [("pending", 0)]


async def test_a_clock_jumping_forward_fires_what_it_skipped_once_marked_late(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=30), t0 + timedelta(hours=2)], t0)
    await haven.scheduler.sweep()
    with caplog.at_level(logging.WARNING, logger="bot.reminders.scheduler"):
        clock.advance(timedelta(days=1))
        await haven.scheduler.sweep()
    assert "clock jumped forward" in caplog.text
    await haven.scheduler.sweep()
    texts = await reminder_texts(haven)
    assert len(texts) == 2 and all(late_label(haven) in text for text in texts)


async def test_a_reminder_whose_item_left_the_playbook_is_cancelled_not_sent(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=1)], t0, item="an_item_since_removed")
    clock.advance(timedelta(minutes=2))
    assert await haven.scheduler.fire_due() == 0
    assert await sent_keys(haven) == []
    assert await states(haven) == [("cancelled", 1)]
    assert "no longer in the playbook" in caplog.text


async def test_the_timer_wakes_up_by_itself_for_due_and_newly_armed_reminders(
    tmp_path: Path, opened: list[Haven]
) -> None:
    """The real APScheduler on the real clock, with reminders a few milliseconds away."""
    haven = await Haven.open(make_config(tmp_path / "real"), {"memory": MemoryAdapter()})
    opened.append(haven)
    passes = watch_firing_passes(haven)
    now = haven.clock.now()
    await seed(haven, [now + timedelta(milliseconds=50)], now)
    await haven.scheduler.start()
    await until_sent(haven, passes, 1)
    async with haven.db.transaction() as conn:
        case = await cases.create(
            conn, platform="memory", user_id="u2", chat_id="u2", locale="en", now=now
        )
        at = haven.clock.now() + timedelta(milliseconds=50)
        await reminders.add(
            conn, [NewReminder(case.id, "forward_evidence", 0, "until_done", False, at, at)], now
        )
    haven.scheduler.arm([at])
    await until_sent(haven, passes, 2)


def watch_firing_passes(haven: Haven) -> asyncio.Event:
    """An event set after each firing pass, whoever started it (the timer or a sweep)."""
    passed = asyncio.Event()
    fire_due = haven.scheduler.fire_due

    async def fire_due_and_tell() -> int:
        try:
            return await fire_due()
        finally:
            passed.set()

    haven.scheduler.fire_due = fire_due_and_tell  # type: ignore[method-assign]
    return passed


async def until_sent(haven: Haven, passes: asyncio.Event, count: int) -> None:
    """Until the timer has sent ``count`` reminders, looking after each firing pass. The
    bound is only a backstop against a timer that never fires."""
    try:
        async with asyncio.timeout(30):
            while True:
                passes.clear()
                if len(await sent_keys(haven)) == count:
                    return
                await passes.wait()
    except TimeoutError:
        raise AssertionError(
            f"expected {count} reminders, the timer sent {await sent_keys(haven)}"
        ) from None


async def test_the_sweep_fires_what_no_wake_was_armed_for(
    tmp_path: Path, opened: list[Haven]
) -> None:
    """A reminder another process wrote (no arm() here) goes out with the next sweep, and
    so does one written after the first sweep: the sweep keeps coming round."""
    haven = await Haven.open(make_config(tmp_path / "real"), {"memory": MemoryAdapter()})
    opened.append(haven)
    haven.scheduler.sweep_seconds = 0.05
    passes = watch_firing_passes(haven)
    await haven.scheduler.start()
    for count in (1, 2):
        passes.clear()
        await passes.wait()  # a sweep came round; the next reminder is written after it
        now = haven.clock.now()
        async with haven.db.transaction() as conn:
            case = await cases.create(
                conn,
                platform="memory",
                user_id=f"u{count}",
                chat_id=f"u{count}",
                locale="en",
                now=now,
            )
            await reminders.add(
                conn, [NewReminder(case.id, ITEMS[0], 0, "until_done", False, now, now)], now
            )
        await until_sent(haven, passes, count)


class SlowDuty:
    """A duty that takes a minute: time moves on between a pass's claim and its end."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    async def fire_due(self, now: datetime) -> int:
        self.clock.advance(timedelta(minutes=1))
        return 0

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return None


async def test_settling_fires_what_falls_due_within_the_window_and_no_later(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    """At the end of piped input: every reminder due within the window goes out, one
    falling due while a pass ran too; none due after it."""
    haven = await start(opened, config, clock)
    haven.scheduler.duties += (SlowDuty(clock),)
    now = clock.now()
    await seed(haven, [now + timedelta(seconds=30), now + timedelta(hours=1)], now)
    await haven.scheduler.settle(timedelta(minutes=5))
    assert len(await sent_keys(haven)) == 1
    assert sorted(await states(haven)) == [("fired", 1), ("pending", 0)]


async def test_a_pass_arms_the_wake_for_what_fell_due_while_it_ran(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    haven.scheduler.duties += (SlowDuty(clock),)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(seconds=30), t0 + timedelta(hours=1)], t0)
    await haven.scheduler.fire_due()
    assert haven.scheduler.next_wake == t0 + timedelta(seconds=30), "overdue: wakes at once"


async def test_a_fired_reminder_is_queued_under_its_case(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    """What erasing the case drops or blanks with the rest of its messages."""
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=1)], t0)
    clock.advance(timedelta(minutes=2))
    assert await haven.scheduler.fire_due() == 1
    async with haven.db.transaction() as conn:
        filed = (await conn.execute(select(outbox.c.case_id))).scalars().all()
    assert filed == [1]
