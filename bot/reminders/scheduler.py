"""The reminder timer: APScheduler wakes Haven up, the database decides what fires.

APScheduler 3.x (AsyncIOScheduler) holds one job, "wake at the next pending reminder's
time", plus a periodic sweep; no reminder lives only in its memory. A wake fires every
reminder due by then and arms the next one. Firing claims rows with a conditional UPDATE
and writes their messages to the outbox in the same transaction, so each reminder fires
once: never zero times (a restart fires what came due while Haven was down, marked late),
never twice (a second process racing for a row finds it already claimed).

Escalation steps and the daily briefing ride on the same machinery as "duties": each
keeps its own due rows in the database, fires what is due when asked, and says when it
is next due, so one timer wakes Haven for all of them and they survive restarts alike.

The sweep catches what a single timer cannot know about: reminders armed by another
process on the same database, a wake lost to an error, and a wall clock that jumped
(reminders follow the wall clock: a jump forward fires what it skipped over, late; a jump
backward makes them wait for their time again).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.delivery.outbox import payload_of
from bot.events import ChatKind, ChatRef
from bot.reminders.planning import LATE_AFTER, ReminderPolicy
from bot.reminders.texts import ReminderTexts
from storage import outbox, reminders
from storage.database import Database
from storage.outbox import NewMessage
from storage.reminders import Fired

log = logging.getLogger(__name__)

WAKE_JOB = "reminders-wake"
SWEEP_JOB = "reminders-sweep"
# More drift than this between the wall clock and the monotonic clock is a jump.
CLOCK_JUMP = timedelta(seconds=5)


class Duty(Protocol):
    """Something else the timer wakes Haven for, with its own due rows."""

    async def fire_due(self, now: datetime) -> int:
        """Do what is due by `now` (claiming its rows); return how many messages were queued."""

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        """When the next thing is due, later than `after`."""


class ReminderScheduler:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: ReminderPolicy,
        texts: ReminderTexts,
        on_outbox: Callable[[], None],
        *,
        batch: int = 500,
        sweep_seconds: float = 30.0,
        duties: Sequence[Duty] = (),
        hold_in_talk: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy
        self.texts = texts
        self.on_outbox = on_outbox
        self.batch = batch
        self.sweep_seconds = sweep_seconds
        self.duties = tuple(duties)
        # Reminders of a case a staff member is talking with wait for the talk to end.
        self.hold_in_talk = hold_in_talk
        # The steady clock the wall clock is checked against for jumps (a test drives it).
        self.monotonic = monotonic
        self._timer = AsyncIOScheduler(timezone=UTC)
        self._armed_at: datetime | None = None
        self._claimed_until: datetime | None = None
        self._firing = asyncio.Lock()
        self._pass: asyncio.Task[None] | None = None
        self._pass_again = False
        self._arms = 0
        self._stopped = False
        self._last_reading: tuple[datetime, float] | None = None

    @property
    def next_wake(self) -> datetime | None:
        """When the timer will next wake up for a reminder (None: nothing pending)."""
        job = self._timer.get_job(WAKE_JOB)
        run_date: datetime | None = None if job is None else job.trigger.run_date
        return run_date

    async def start(self) -> None:
        """Re-arm from the database, then let the timer run."""
        await self.rearm()
        self._started_timer().add_job(
            self.sweep,
            IntervalTrigger(seconds=self.sweep_seconds),
            id=SWEEP_JOB,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,
        )
        self._timer.resume()

    async def stop(self) -> None:
        """Stop the timer and let a firing pass under way finish its transaction."""
        self._stopped = True
        if self._timer.running:
            self._timer.shutdown(wait=False)
        async with self._firing:
            pass

    async def rearm(self) -> int:
        """At start: fire what came due while Haven was down, arm the timer for the rest."""
        fired = await self.fire_due()
        async with self.db.transaction() as conn:
            pending = await reminders.count_pending(conn)
        log.info(
            "reminders re-armed: %d fired at start, %d pending, next at %s",
            fired,
            pending,
            self.next_wake,
        )
        return fired

    def arm(self, moments: Iterable[datetime]) -> None:
        """Reminders were set or moved (their rows are committed): wake up in time."""
        earliest = min(moments, default=None)
        if self._stopped or earliest is None:
            return
        self._arms += 1
        if self._armed_at is None or earliest < self._armed_at:
            self._set_wake(earliest)

    async def fire_due(self) -> int:
        """Fire every reminder due now, in batches, and the duties' due steps, then arm the
        timer for the next one; return how many reminder messages were queued."""
        queued = 0
        async with self._firing:
            if self._stopped:
                return 0
            while True:
                now = self.clock.now()
                async with self.db.transaction() as conn:
                    claimed = await reminders.claim_due(
                        conn, now, self.batch, hold_in_talk=self.hold_in_talk
                    )
                    messages = self._messages(claimed, now)
                    stale = [f.id for f in claimed if not self.policy.knows(f.item_id)]
                    await reminders.cancel(conn, stale, now)
                    await outbox.enqueue_many(conn, messages, now)
                self._claimed_until = now
                queued += len(messages)
                self._log_fired(claimed, stale, now)
                if len(claimed) < self.batch:
                    break
            others = 0
            for duty in self.duties:
                others += await duty.fire_due(now)
            await self._arm_next()
        if queued or others:
            self.on_outbox()
        return queued

    def _messages(self, claimed: list[Fired], now: datetime) -> list[NewMessage]:
        return [
            NewMessage(
                fired.platform,
                fired.chat_id,
                payload_of(
                    ChatRef(fired.platform, fired.chat_id, ChatKind.PRIVATE),
                    self.texts.message(fired, now),
                    key=f"reminder:{fired.id}:{fired.rounds}",
                ),
                fired.case_id,
            )
            for fired in claimed
            if self.policy.knows(fired.item_id)
        ]

    def _log_fired(self, claimed: list[Fired], stale: list[int], now: datetime) -> None:
        late = [f for f in claimed if now - f.fire_at > LATE_AFTER]
        if claimed:
            log.info("fired %d reminders (%d late)", len(claimed) - len(stale), len(late))
        if stale:
            # The playbook no longer has their items: say nothing rather than something wrong.
            log.warning(
                "cancelled %d reminders of checklist items no longer in the playbook", len(stale)
            )

    async def sweep(self) -> None:
        """Periodic safety net: notice clock jumps, fire anything due, re-arm."""
        self._notice_clock_jump()
        if not self._stopped:
            await self.fire_due()

    def _notice_clock_jump(self) -> None:
        wall, steady = self.clock.now(), self.monotonic()
        if self._last_reading is not None:
            last_wall, last_steady = self._last_reading
            drift = (wall - last_wall) - timedelta(seconds=steady - last_steady)
            if abs(drift) > CLOCK_JUMP:
                direction = "forward" if drift > timedelta(0) else "backward"
                log.warning(
                    "the clock jumped %s by %s; reminders follow the new time "
                    "(none is lost or sent twice; ones skipped over are sent now, marked late)",
                    direction,
                    abs(drift),
                )
        self._last_reading = (wall, steady)

    async def settle(self, window: timedelta) -> None:
        """Fire the reminders falling due within `window`, waiting for them; used when the
        adapters have closed (the console at the end of piped input)."""
        until = self.clock.now() + window
        while True:
            await self.fire_due()
            # After the last claim, as in _arm_next: what fell due since must not be skipped.
            after = self._claimed_until or self.clock.now()
            async with self.db.transaction() as conn:
                upcoming = await self._next_due(conn, after)
            if upcoming is None or upcoming > until:
                return
            await self.clock.sleep(max(0.0, (upcoming - self.clock.now()).total_seconds()))

    async def _wake(self) -> None:
        """The timer's job. It only starts a firing pass and returns at once: a job still
        running when the next wake falls due would make APScheduler skip that wake. A wake
        during a pass makes that pass go round once more, so it is never dropped."""
        self._armed_at = None  # this wake's job is spent; arm() may set a new one at once
        if self._stopped:
            return
        if self._pass is not None and not self._pass.done():
            self._pass_again = True
            return
        self._pass = asyncio.create_task(self._firing_pass())

    async def _firing_pass(self) -> None:
        self._pass_again = True
        while self._pass_again and not self._stopped:
            self._pass_again = False
            try:
                await self.fire_due()
            except Exception:
                log.exception("firing reminders failed; the sweep tries again")

    async def _arm_next(self) -> None:
        # After the last claim, not after "now": whatever came due since then must wake us.
        after = self._claimed_until or self.clock.now()
        while True:
            arms = self._arms
            async with self.db.transaction() as conn:
                upcoming = await self._next_due(conn, after)
            # arm() ran during the query: its rows were committed first, so look again
            # rather than replace (or remove) the wake it set with an older answer.
            if arms == self._arms:
                break
        if upcoming is None:
            if self._timer.get_job(WAKE_JOB) is not None:
                self._timer.remove_job(WAKE_JOB)
            self._armed_at = None
            return
        self._set_wake(upcoming)

    async def _next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        moments = [await reminders.next_fire_at(conn, after, hold_in_talk=self.hold_in_talk)]
        moments += [await duty.next_due(conn, after) for duty in self.duties]
        return min((m for m in moments if m is not None), default=None)

    def _started_timer(self) -> AsyncIOScheduler:
        if not self._timer.running:
            # Paused until start(): jobs are then kept in the job store itself (one per id),
            # while a stopped scheduler would queue every replaced version of a job.
            self._timer.start(paused=True)
        return self._timer

    def _set_wake(self, moment: datetime) -> None:
        self._started_timer().add_job(
            self._wake,
            DateTrigger(run_date=moment),
            id=WAKE_JOB,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=None,  # the 1-second default would drop an overdue wake
        )
        self._armed_at = moment
