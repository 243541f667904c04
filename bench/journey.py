"""Benchmark: N simulated victims run a whole journey concurrently through the real core.

Real SQLite storage in a temporary directory, the in-memory adapter, the real outbox
sender running in the background as it does beside a chat platform (the dispatcher
queues a turn's replies and wakes it; a victim sends on once the first reply has
reached it). Prints messages/s, p50/p99 latency from inbound to the first reply reaching
the adapter, peak RSS; then the same count of rows written by bare aiosqlite (one
committed insert per message) as a baseline measured in the same run, and the ratio.
Ends with one JSON line.

With every victim sending its next message the moment the last one is answered, the
latency of the first run is queueing: N victims wait, on average, N / throughput each
(Little's law), whatever the per-message cost. So a second, paced run measures latency
at a set offered load, as people would send: each of --paced-victims sends on a fixed
schedule (one message every victims / --paced-rate seconds, victims starting at random
points of the first period), and latency is counted from the scheduled time, so a
backlog shows in it instead of slowing the senders down (no coordinated omission).

With --cpu-neighbour the paced run is made a second time beside another process that
keeps one core busy (a busy loop), as a second service on the same machine would: the
figures of both runs are reported.

    .venv/bin/python bench/journey.py [--victims 2000] [--open-cases 10000]
        [--paced-rate 500] [--paced-victims 2000] [--cpu-neighbour]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiosqlite

# The repository replaces this folder at the head of sys.path: bench/telegram.py would
# otherwise shadow the `telegram` package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import MemoryAdapter, victim_event
from bot.config import Config, load_config
from bot.events import InboundKind, Outbound
from bot.runtime import Haven, freeze_startup_heap

# A victim sends its next message as soon as the last one is answered: far faster than
# a person, so the flood guard is set out of the way (a dropped message has no answer).
CONFIG = """
[limits]
flood_messages = 100000
"""
# Spins until its parent is gone, so a bench that is killed leaves no busy process behind.
BUSY_LOOP = """
import os
parent = os.getppid()
while os.getppid() == parent:
    for _ in range(1_000_000):
        pass
"""


class TimedAdapter(MemoryAdapter):
    """Keeps only the buttons of the latest prompt per chat, not the whole history, and
    when the first reply to each chat's latest message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.buttons: dict[str, list[str]] = {}
        self.awaiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, chat: str) -> asyncio.Future[float]:
        """When the first reply to ``chat`` arrives from now on."""
        arrived = self.awaiting[chat] = asyncio.get_running_loop().create_future()
        return arrived

    async def send(self, message: Outbound) -> str:
        chat = message.chat.chat_id
        if message.buttons:
            self.buttons[chat] = [b.data for row in message.buttons for b in row]
        arrived = self.awaiting.pop(chat, None)
        if arrived is not None:
            arrived.set_result(time.perf_counter())
        return "1"


async def journey(
    haven: Haven, adapter: TimedAdapter, user: str, latencies: list[float], period: float = 0.0
) -> int:
    """One victim: start, triage, every checklist item done, to the closed case; with a
    ``period``, one message per period from a random offset into the first one."""
    sent = 0
    due = time.perf_counter() + random.Random(user).uniform(0, period)

    async def send(kind: InboundKind, **fields: object) -> None:
        nonlocal sent, due
        started = time.perf_counter()
        if period:
            await asyncio.sleep(max(0.0, due - started))
            started, due = due, due + period
        answered = adapter.expect(user)
        await haven.dispatcher.handle(victim_event(adapter.platform, user, kind, **fields))
        # A turn's replies are one pass of the sender: all of them are there by now.
        latencies.append(await answered - started)
        sent += 1

    async def press(suffix: str) -> None:
        data = next(
            d for d in adapter.buttons[user] if d.split(":", 1)[1] == suffix or d.endswith(suffix)
        )
        await send(InboundKind.BUTTON, button_data=data)

    await send(InboundKind.COMMAND, command="start")
    for key in ("lang:en", "ok:", "safety=no", "extortion=no", "minor=no", "spread=group_chats"):
        await press(key)
    await press("leaked=chats")
    await press("md:leaked")
    await press("source=hotel")
    while True:
        choices = adapter.buttons.get(user, [])
        forward = [d for d in choices if d.endswith(("path=police", "=done"))]
        if not forward:
            return sent
        await send(InboundKind.BUTTON, button_data=forward[0])


def config_for(data_dir: Path) -> Config:
    path = data_dir.parent / f"{data_dir.name}.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, data_dir_override=data_dir)


@contextlib.contextmanager
def cpu_neighbour() -> Iterator[None]:
    """Another process keeping one core busy for as long as the block runs."""
    busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
    try:
        yield
    finally:
        busy.kill()
        busy.wait()


async def run_core(victims: int, data_dir: Path, rate: float = 0.0) -> dict[str, float]:
    """All victims at once; with ``rate``, each on a schedule so that together they
    offer it."""
    config = config_for(data_dir)
    adapter = TimedAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter})
    freeze_startup_heap()  # as `haven run` does
    latencies: list[float] = []
    period = victims / rate if rate else 0.0
    sender = asyncio.create_task(haven.sender.run())
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(journey(haven, adapter, f"victim-{n}", latencies, period) for n in range(victims))
    )
    elapsed = time.perf_counter() - started
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender
    await haven.close()
    total = sum(counts)
    return {
        "messages": total,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 2),
    }


async def run_baseline(rows: int, path: Path) -> dict[str, float]:
    """The same number of rows, each inserted and committed alone by bare aiosqlite."""
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, chat TEXT, body TEXT)")
        started = time.perf_counter()
        for n in range(rows):
            await db.execute(
                "INSERT INTO log (chat, body) VALUES (?, ?)", (f"c{n % 997}", "x" * 200)
            )
            await db.commit()
        elapsed = time.perf_counter() - started
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed, 1)}


async def open_cases(count: int, data_dir: Path) -> dict[str, float]:
    """RSS with many open cases: each victim opens a case and picks a language."""
    config = config_for(data_dir)
    adapter = TimedAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter})
    for n in range(count):
        user = f"open-{n}"
        await haven.dispatcher.handle(
            victim_event(adapter.platform, user, InboundKind.COMMAND, command="start")
        )
    await haven.sender.drain()
    await haven.close()
    return {"open_cases": count, "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # escalation warnings would drown the figures
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victims", type=int, default=2000)
    parser.add_argument("--open-cases", type=int, default=10_000)
    parser.add_argument("--paced-rate", type=float, default=500.0)
    parser.add_argument("--paced-victims", type=int, default=2000)
    parser.add_argument(
        "--cpu-neighbour",
        action="store_true",
        help="also run the paced load beside a process that keeps one core busy",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        root = Path(scratch)
        core = await run_core(args.victims, root / "core")
        core["peak_rss_mb"] = peak_rss_mb()
        paced = await run_core(args.paced_victims, root / "paced", args.paced_rate)
        beside = None
        if args.cpu_neighbour:
            with cpu_neighbour():
                beside = await run_core(args.paced_victims, root / "beside", args.paced_rate)
        baseline = await run_baseline(int(core["messages"]), root / "baseline.db")
        many = await open_cases(args.open_cases, root / "many")
    ratio = round(core["messages_per_s"] / baseline["rows_per_s"], 3)
    print(f"victims                {args.victims}")
    print(f"messages               {core['messages']:.0f} in {core['seconds']} s")
    print(f"throughput             {core['messages_per_s']} messages/s (end to end)")
    print(f"latency p50 / p99      {core['p50_ms']} ms / {core['p99_ms']} ms")
    print(f"peak RSS               {core['peak_rss_mb']} MB")
    print(
        f"paced                  {args.paced_victims} victims offering {args.paced_rate:g} "
        f"messages/s: p50 {paced['p50_ms']} ms / p99 {paced['p99_ms']} ms "
        f"({paced['messages_per_s']} messages/s served)"
    )
    if beside is not None:
        print(
            f"paced, CPU neighbour   p50 {beside['p50_ms']} ms / p99 {beside['p99_ms']} ms "
            f"({beside['messages_per_s']} messages/s served; target p99 <= 50 ms)"
        )
    print(
        f"baseline               {baseline['rows_per_s']} rows/s (bare aiosqlite, commit per row)"
    )
    print(f"ratio                  {ratio}")
    print(f"{many['open_cases']} open cases    peak RSS {many['peak_rss_mb']} MB")
    figures: dict[str, object] = {
        "bench": "journey",
        "core": core,
        "paced": {"offered_per_s": args.paced_rate, **paced},
        "baseline": baseline,
        "open_cases": many,
        "ratio": ratio,
    }
    if beside is not None:
        figures["paced_cpu_neighbour"] = {"offered_per_s": args.paced_rate, **beside}
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
