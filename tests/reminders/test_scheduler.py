"""The reminder timer: exactly once across restarts, two processes and clock jumps.

Reminders are written straight into the database, as a running Haven would have left
them; the scheduler under test only ever sees the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_MISSED
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


async def seed(
    haven: Haven, times: list[datetime], now: datetime, item: str = "", user: str = "u1"
) -> None:
    """One case with a reminder at each time (several follow-ups of a few real items)."""
    async with haven.db.transaction() as conn:
        case = await cases.create(
            conn, platform="memory", user_id=user, chat_id=user, locale="en", now=now
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
    # Two passes of a minute each; the reminder overdue by then was not waited for.
    assert clock.now() == now + timedelta(minutes=2)
    assert len(await sent_keys(haven)) == 1
    assert sorted(await states(haven)) == [("fired", 1), ("pending", 0)]


async def test_settling_waits_by_haven_s_clock_until_each_reminder_is_due(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    """Settling sleeps by the injected clock, to each due moment in turn and no further;
    one due at the window's very end is within it."""
    haven = await start(opened, config, clock)
    t0 = clock.now()
    due = [t0 + timedelta(seconds=30), t0 + timedelta(minutes=5), t0 + timedelta(minutes=10)]
    await seed(haven, due, t0)
    await haven.scheduler.settle(timedelta(minutes=5))
    assert clock.now() == t0 + timedelta(minutes=5)
    assert sorted(await states(haven)) == [("fired", 1), ("fired", 1), ("pending", 0)]


async def test_arming_moves_the_wake_earlier_never_later(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    haven.scheduler.arm([t0 + timedelta(minutes=10)])
    haven.scheduler.arm([t0 + timedelta(hours=1)])
    assert haven.scheduler.next_wake == t0 + timedelta(minutes=10)
    haven.scheduler.arm([t0 + timedelta(minutes=5), t0 + timedelta(hours=2)])
    assert haven.scheduler.next_wake == t0 + timedelta(minutes=5)


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


SCHEDULER_LOG = "bot.reminders.scheduler"


class SteadyClock:
    """The monotonic clock the wall clock is checked against, moved by the test."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


async def test_a_clock_jump_is_told_to_the_operator_with_its_size_and_what_follows(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    steady = SteadyClock()
    haven.scheduler.monotonic = steady
    with caplog.at_level(logging.INFO, logger=SCHEDULER_LOG):
        await haven.scheduler.sweep()
        clock.advance(timedelta(minutes=1))
        steady.seconds += 60
        await haven.scheduler.sweep()
        clock.advance(timedelta(seconds=65))
        steady.seconds += 60
        await haven.scheduler.sweep()
        assert caplog.records == [], "both clocks moved alike, or 5 s apart at most: no jump"
        clock.advance(timedelta(hours=1, seconds=30))
        steady.seconds += 30
        await haven.scheduler.sweep()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "the clock jumped forward by 1:00:00; reminders follow the new time "
        "(none is lost or sent twice; ones skipped over are sent now, marked late)"
    )


async def test_rearming_tells_what_fired_at_start_what_is_pending_and_the_next_wake(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=1), t0 + timedelta(hours=1)], t0)
    clock.advance(timedelta(minutes=2))
    with caplog.at_level(logging.INFO, logger=SCHEDULER_LOG):
        assert await haven.scheduler.rearm() == 1
    assert haven.scheduler.next_wake == t0 + timedelta(hours=1)
    assert caplog.messages[-1] == (
        f"reminders re-armed: 1 fired at start, 1 pending, next at {t0 + timedelta(hours=1)}"
    )


async def test_a_firing_pass_tells_how_many_went_out_how_many_late_and_what_was_dropped(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    """Late means more than a minute after its time; a reminder whose item left the
    playbook is counted apart (a warning), not as sent."""
    haven = await start(opened, config, clock)
    t0 = clock.now()
    await seed(haven, [t0, t0 + timedelta(minutes=1)], t0)
    await seed(haven, [t0 + timedelta(minutes=1)], t0, item="an_item_since_removed", user="u2")
    clock.advance(timedelta(minutes=2))
    with caplog.at_level(logging.INFO, logger=SCHEDULER_LOG):
        assert await haven.scheduler.fire_due() == 2
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "fired 2 reminders (1 late)"),
        (logging.WARNING, "cancelled 1 reminders of checklist items no longer in the playbook"),
    ]


class BrokenDuty:
    async def fire_due(self, now: datetime) -> int:
        raise RuntimeError("the duty broke")

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return None


async def test_a_failed_firing_pass_is_logged_as_an_error_and_the_pass_ends(
    config: Config, clock: ManualClock, opened: list[Haven], caplog: pytest.LogCaptureFixture
) -> None:
    haven = await start(opened, config, clock)
    haven.scheduler.duties += (BrokenDuty(),)
    with caplog.at_level(logging.INFO, logger=SCHEDULER_LOG):
        await haven.scheduler._wake()  # what the timer's job runs
        assert haven.scheduler._pass is not None
        await haven.scheduler._pass
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "firing reminders failed; the sweep tries again"


class WakeDuringPass:
    """A duty during whose first firing the timer wakes again (a reminder fell due)."""

    def __init__(self, haven: Haven) -> None:
        self.haven = haven
        self.passes = 0

    async def fire_due(self, now: datetime) -> int:
        self.passes += 1
        if self.passes == 1:
            await self.haven.scheduler._wake()
        return 0

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return None


async def test_a_wake_during_a_firing_pass_makes_it_go_round_once_more(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    duty = WakeDuringPass(haven)
    haven.scheduler.duties += (duty,)
    await haven.scheduler._wake()
    assert haven.scheduler._pass is not None
    await haven.scheduler._pass
    assert duty.passes == 2


class ArmDuringQuery:
    """A duty while whose next-due query another task arms a wake for a row committed
    just before: the query's answer predates that row."""

    def __init__(self, haven: Haven, moment: datetime) -> None:
        self.haven = haven
        self.moment = moment
        self.armed = False

    async def fire_due(self, now: datetime) -> int:
        return 0

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        if not self.armed:
            self.armed = True
            self.haven.scheduler.arm([self.moment])
            return None
        return self.moment


async def test_a_wake_armed_during_the_next_due_query_is_kept(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    t0 = clock.now()
    haven.scheduler.arm([t0 + timedelta(days=3)])  # an earlier arm() call
    haven.scheduler.duties = (ArmDuringQuery(haven, t0 + timedelta(minutes=5)),)
    await haven.scheduler.fire_due()
    assert haven.scheduler.next_wake == t0 + timedelta(minutes=5)


async def test_starting_twice_keeps_one_sweep(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    await haven.scheduler.start()
    await haven.scheduler.start()
    jobs = haven.scheduler._timer.get_jobs()  # the real APScheduler's job store
    assert [job.id for job in jobs if job.func == haven.scheduler.sweep] == ["reminders-sweep"]


async def test_sweeps_missed_while_the_event_loop_was_held_up_run_once(
    tmp_path: Path, opened: list[Haven]
) -> None:
    """The real APScheduler: a loop held up past several sweep times runs one sweep for
    them, not one each back to back, and not none: the last of them is well over
    APScheduler's default grace of one second late, yet it is not "missed"."""
    haven = await Haven.open(make_config(tmp_path / "real"), {"memory": MemoryAdapter()})
    opened.append(haven)
    scheduler = haven.scheduler
    scheduler.sweep_seconds = 2.0
    sweeps = 0
    came = asyncio.Event()
    missed: list[str] = []

    async def counted_sweep() -> None:
        nonlocal sweeps
        sweeps += 1
        came.set()

    scheduler.sweep = counted_sweep  # type: ignore[method-assign]
    scheduler._timer.add_listener(lambda event: missed.append(event.job_id), EVENT_JOB_MISSED)
    await scheduler.start()
    await came.wait()
    came.clear()
    before = sweeps
    # Holds the event loop up on purpose (it waits for nothing): two sweep times pass, the
    # later one about 1.4 s before the loop is free again.
    time.sleep(5.4)  # noqa: ASYNC251
    await came.wait()
    await scheduler.stop()
    assert (sweeps, missed) == (before + 1, [])


class QueuingDuty:
    """A duty that queues `count` messages each time it fires."""

    def __init__(self, count: int) -> None:
        self.count = count

    async def fire_due(self, now: datetime) -> int:
        return self.count

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return None


@pytest.mark.parametrize(
    ("counts", "told"),
    [((), False), ((0, 0), False), ((1,), True), ((1, 0), True), ((0, 2), True)],
)
async def test_the_sender_is_told_exactly_when_a_duty_queued_messages(
    config: Config,
    clock: ManualClock,
    opened: list[Haven],
    counts: tuple[int, ...],
    told: bool,
) -> None:
    haven = await start(opened, config, clock)
    haven.scheduler.duties = tuple(QueuingDuty(count) for count in counts)
    calls: list[None] = []
    haven.scheduler.on_outbox = lambda: calls.append(None)
    await haven.scheduler.fire_due()
    assert len(calls) == int(told)


async def test_with_nothing_left_to_fire_the_wake_is_dropped_and_can_be_armed_again(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    haven.scheduler.duties = ()  # reminders alone: nothing else is ever due
    t0 = clock.now()
    await seed(haven, [t0 + timedelta(minutes=1)], t0)
    await haven.scheduler.fire_due()
    assert haven.scheduler.next_wake == t0 + timedelta(minutes=1)
    clock.advance(timedelta(minutes=2))
    assert await haven.scheduler.fire_due() == 1
    assert haven.scheduler.next_wake is None
    haven.scheduler.arm([t0 + timedelta(hours=1)])
    assert haven.scheduler.next_wake == t0 + timedelta(hours=1)


async def test_a_reminder_armed_while_a_wake_starts_its_pass_is_armed(
    config: Config, clock: ManualClock, opened: list[Haven]
) -> None:
    haven = await start(opened, config, clock)
    haven.scheduler.duties = ()
    at = clock.now() + timedelta(hours=1)
    await haven.scheduler._wake()  # the wake's job is spent; its pass has not run yet
    haven.scheduler.arm([at])
    assert haven.scheduler.next_wake == at
    assert haven.scheduler._pass is not None
    await haven.scheduler._pass


async def test_a_wake_overdue_after_the_event_loop_was_held_up_still_fires(
    tmp_path: Path, opened: list[Haven]
) -> None:
    """The real APScheduler: a wake whose time passed more than a second ago (its default
    grace) while the loop was busy fires, rather than waiting for the sweep."""
    haven = await Haven.open(make_config(tmp_path / "real"), {"memory": MemoryAdapter()})
    opened.append(haven)
    haven.scheduler.sweep_seconds = 3600
    passes = watch_firing_passes(haven)
    now = haven.clock.now()
    await seed(haven, [now + timedelta(milliseconds=50)], now)
    await haven.scheduler.start()
    assert await sent_keys(haven) == []
    # Holds the event loop up on purpose (it waits for nothing): the wake's time goes by.
    time.sleep(1.5)  # noqa: ASYNC251
    await until_sent(haven, passes, 1)
