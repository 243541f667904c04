"""Benchmark: reminders at scale and the outbox drain, on real SQLite in a temporary directory.

1. 100,000 pending reminders (1,000 cases): the time to re-arm them when Haven starts
   (the scheduler's start: fire what is overdue, arm the timer), and again after a
   restart in which 10,000 of them came due while Haven was down.
2. With those pending, 1,000 more reminders falling due within one second, on the real
   clock and the real APScheduler timer: lateness p50/p99 between each reminder's time
   and the moment its message was written to the outbox.
3. The outbox drained to an in-memory adapter with rate limits off (messages/s), against
   a baseline measured in the same run: a bare queue in plain aiosqlite with the same
   pragmas, one committed INSERT and one committed DELETE per message.

Peak RSS is the whole process's. Ends with one JSON line.

    .venv/bin/python bench/reminders.py [--pending 100000] [--burst 1000] [--messages 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiosqlite
from sqlalchemy import select

# Not bench/ itself: bench/telegram.py would shadow the telegram package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import MemoryAdapter
from bot.clock import SystemClock
from bot.config import Config, load_config
from bot.content.prompts import Reply
from bot.delivery.outbox import OutboxSender, StaffNotice, payload_of
from bot.events import ChatKind, ChatRef
from bot.runtime import Haven
from storage import cases, outbox, reminders
from storage.outbox import NewMessage
from storage.reminders import NewReminder, Retimed
from storage.schema import reminders as reminder_rows

ITEMS = ("forward_evidence", "police_report", "watch_respread", "report_content")
CASES = 1000
CHUNK = 10_000


async def open_haven(config: Config) -> Haven:
    return await Haven.open(config, {"memory": MemoryAdapter()}, SystemClock())


async def seed(haven: Haven, times: list[datetime], users: str) -> list[int]:
    """Reminders at `times`, spread over CASES cases; returns the case ids."""
    now = haven.clock.now()
    async with haven.db.transaction() as conn:
        ids = [
            (
                await cases.create(
                    conn,
                    platform="memory",
                    user_id=f"{users}{n}",
                    chat_id=f"{users}{n}",
                    locale="en",
                    now=now,
                )
            ).id
            for n in range(min(CASES, len(times)))
        ]
    rows = [
        NewReminder(ids[n % len(ids)], ITEMS[n % len(ITEMS)], n, "until_done", False, at, at)
        for n, at in enumerate(times)
    ]
    for start in range(0, len(rows), CHUNK):
        async with haven.db.transaction() as conn:
            await reminders.add(conn, rows[start : start + CHUNK], now)
    return ids


async def rearm(config: Config) -> tuple[float, int]:
    """Open Haven and time the scheduler's start; returns (seconds, reminders fired)."""
    haven = await open_haven(config)
    started = time.perf_counter()
    fired = await haven.scheduler.rearm()
    elapsed = time.perf_counter() - started
    await haven.close()
    return elapsed, fired


async def lateness(config: Config, burst: int) -> list[float]:
    """Seconds between due time and outbox write for `burst` reminders due in one second."""
    haven = await open_haven(config)
    await haven.scheduler.start()
    due = haven.clock.now() + timedelta(seconds=2)
    times = sorted(due + timedelta(seconds=random.random()) for _ in range(burst))
    ids = await seed(haven, times, users="burst")
    haven.scheduler.arm(times)  # as the dispatcher does after committing new reminders
    query = select(reminder_rows.c.fire_at, reminder_rows.c.fired_at).where(
        reminder_rows.c.case_id.in_(ids), reminder_rows.c.state == "fired"
    )
    for _ in range(600):
        await asyncio.sleep(0.05)
        async with haven.db.transaction() as conn:
            fired = (await conn.execute(query)).all()
        if len(fired) == burst:
            break
    await haven.close()
    if len(fired) != burst:
        raise SystemExit(f"only {len(fired)} of {burst} reminders fired within 30 s")
    return [(row.fired_at - row.fire_at).total_seconds() for row in fired]


async def drain(config: Config, count: int) -> float:
    """Messages per second drained to the in-memory adapter, no rate limits."""
    haven = await open_haven(config)
    now = haven.clock.now()
    messages = [
        NewMessage(
            "bench",
            f"chat{n % 100}",
            payload_of(ChatRef("bench", f"chat{n % 100}", ChatKind.PRIVATE), Reply("x" * 200)),
            None,
        )
        for n in range(count)
    ]
    async with haven.db.transaction() as conn:
        await outbox.enqueue_many(conn, messages, now)
    adapter = MemoryAdapter("bench")
    notice = StaffNotice((), haven.playbook.texts, "en")
    sender = OutboxSender(haven.db, {"bench": adapter}, haven.clock, notice)
    started = time.perf_counter()
    sent = 0
    while sent < count:
        sent += await sender.drain()
    elapsed = time.perf_counter() - started
    await haven.close()
    return count / elapsed


async def baseline(path: Path, count: int) -> float:
    """A bare queue: each message inserted and deleted, each statement committed."""
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, chat TEXT, body TEXT)")
        started = time.perf_counter()
        for n in range(count):
            cursor = await db.execute(
                "INSERT INTO queue (chat, body) VALUES (?, ?)", (f"chat{n % 100}", "x" * 200)
            )
            await db.commit()
            await db.execute("DELETE FROM queue WHERE id = ?", (cursor.lastrowid,))
            await db.commit()
        elapsed = time.perf_counter() - started
    return count / elapsed


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        root = Path(scratch)
        config = load_config(None, data_dir_override=root / "data")
        haven = await open_haven(config)
        start = haven.clock.now() + timedelta(hours=1)
        spread = timedelta(days=30) / args.pending
        await seed(haven, [start + n * spread for n in range(args.pending)], users="pending")
        await haven.close()
        rearm_s, _ = await rearm(config)
        # Shift the first tenth into the past: due while "Haven was down".
        overdue = args.pending // 10
        await shift_first(config, overdue, spread * overdue + timedelta(hours=2))
        rearm_overdue_s, fired = await rearm(config)
        lateness_s = await lateness(config, args.burst)
        drain_rate = await drain(config, args.messages)
        baseline_rate = await baseline(root / "baseline.db", args.messages)
    result = {
        "bench": "reminders",
        "pending": args.pending,
        "rearm_s": round(rearm_s, 4),
        "rearm_with_overdue_s": round(rearm_overdue_s, 3),
        "overdue_fired_at_start": fired,
        "peak_rss_mb": peak_rss_mb(),
        "burst": args.burst,
        "lateness_p50_ms": round(percentile(lateness_s, 50) * 1000, 1),
        "lateness_p99_ms": round(percentile(lateness_s, 99) * 1000, 1),
        "lateness_max_ms": round(max(lateness_s) * 1000, 1),
        "messages": args.messages,
        "drain_per_s": round(drain_rate, 1),
        "baseline_per_s": round(baseline_rate, 1),
        "ratio": round(drain_rate / baseline_rate, 3),
    }
    print(f"pending reminders      {args.pending}")
    print(f"re-arm at start        {result['rearm_s']} s (target <= 10 s)")
    print(f"  with {fired} overdue     {result['rearm_with_overdue_s']} s (all fired, marked late)")
    print(f"peak RSS               {result['peak_rss_mb']} MB (target <= 300 MB)")
    print(
        f"lateness, {args.burst} due in 1 s   p50 {result['lateness_p50_ms']} ms, "
        f"p99 {result['lateness_p99_ms']} ms (target p99 <= 1000 ms)"
    )
    print(f"outbox drain           {result['drain_per_s']} messages/s (in-memory adapter)")
    print(f"baseline               {result['baseline_per_s']} messages/s (bare insert + delete)")
    print(f"ratio                  {result['ratio']} (target >= 0.5)")
    print(json.dumps(result))


async def shift_first(config: Config, count: int, by: timedelta) -> None:
    """Move the `count` earliest pending reminders `by` into the past, keeping their order."""
    haven = await open_haven(config)
    async with haven.db.transaction() as conn:
        earliest = await conn.execute(
            select(reminder_rows.c.id, reminder_rows.c.fire_at)
            .where(reminder_rows.c.state == "pending")
            .order_by(reminder_rows.c.fire_at)
            .limit(count)
        )
        moved = [Retimed(row.id, urgent=False, fire_at=row.fire_at - by) for row in earliest]
        await reminders.retime(conn, moved, haven.clock.now())
    await haven.close()


if __name__ == "__main__":
    asyncio.run(main())
