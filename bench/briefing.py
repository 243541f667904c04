"""Benchmark: the daily briefing over a large database, on real SQLite.

Seeds (with bare sqlite3, in chunks) 100,000 cases, 1,000,000 evidence items with their
log leaves and Merkle nodes, 500,000 reminders, some unacknowledged escalations and dead
letters; then times Haven's briefing (bot/staff/briefing.py: every figure plus signing a fresh
tree head of the 1,000,000-leaf log) against a baseline measured in the same run: the
same counts by hand-written SQL over plain sqlite3 on the same file.

Memory: the briefing aggregates in SQL, so its Python allocations must not grow with the
number of cases. The traced peak (tracemalloc) of one briefing is measured at a tenth of
the data and at all of it; process peak RSS is printed too. Ends with one JSON line.
Targets (issue 5): ratio <= 2 and <= 2 s.

    .venv/bin/python bench/briefing.py [--cases 100000] [--items 1000000] [--reminders 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Not bench/ itself: bench/telegram.py would shadow the telegram package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import load_config
from bot.runtime import Haven

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CHUNK = 50_000
SEVERITIES = ("normal", "high", "critical")
ITEMS = ("forward_evidence", "police_report", "watch_respread", "report_content", "contact_bank")
REMINDER_STATES = ("pending", "fired", "done", "cancelled")
RUNS = 5


def stamp(moment: datetime) -> str:
    """How SQLAlchemy's DateTime stores a (UTC, naive) moment in SQLite."""
    return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def insert(db: sqlite3.Connection, sql: str, rows: Iterator[tuple[object, ...]]) -> None:
    for batch in chunks(rows):
        db.executemany(sql, batch)
    db.commit()


def ago(n: int, span_days: int = 10) -> str:
    """Moments spread over the last `span_days`, deterministically."""
    return stamp(NOW - timedelta(seconds=(n * 7919) % (span_days * 86400)))


def seed(path: Path, n_cases: int, n_items: int, n_reminders: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    insert(
        db,
        "INSERT INTO cases (id, platform, user_id, chat_id, status, phase, locale, severity,"
        " step, created_at, updated_at) VALUES (?, 'memory', ?, ?, ?, 'step', 'en', ?, ?, ?, ?)",
        (
            (
                n,
                f"u{n}",
                f"u{n}",
                "closed" if n % 10 == 0 else "open",
                SEVERITIES[n % 3],
                1 + n % 3,
                ago(n),
                ago(n),
            )
            for n in range(1, n_cases + 1)
        ),
    )
    seed_log(db, n_items)
    insert(
        db,
        "INSERT INTO evidence_items (id, case_id, item_no, kind, received_at, size, mime_type,"
        " file_name, content_sha256, content_commitment, leaf_index, case_bytes)"
        " VALUES (?, ?, ?, 'text', ?, 100, 'text/plain', '', ?, ?, ?, ?)",
        (
            (
                n + 1,
                1 + n % n_cases,
                1 + n // n_cases,
                ago(n),
                f"{n:064x}",
                f"{n:064x}",
                n,
                100 * (1 + n // n_cases),
            )
            for n in range(n_items)
        ),
    )
    insert(
        db,
        "INSERT INTO reminders (case_id, item_id, follow_up, mode, urgent, state, remind_at,"
        " fire_at, rounds, fired_at, created_at, updated_at)"
        " VALUES (?, ?, ?, 'until_done', 0, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                1 + n % n_cases,
                ITEMS[(n // n_cases) % len(ITEMS)],
                n // (n_cases * len(ITEMS)),
                REMINDER_STATES[n % 4],
                stamp(NOW + timedelta(seconds=(n * 104729) % (20 * 86400) - 10 * 86400)),
                stamp(NOW + timedelta(seconds=(n * 104729) % (20 * 86400) - 10 * 86400)),
                1 if n % 4 else 0,
                ago(n) if n % 4 else None,
                ago(n),
                ago(n),
            )
            for n in range(n_reminders)
        ),
    )
    insert(
        db,
        "INSERT INTO escalations (case_id, state, level, rounds, reasons, next_at, opened_at,"
        " updated_at) VALUES (?, ?, 0, 1, '[\"extortion\"]', ?, ?, ?)",
        (
            (n, "open" if n % 30 == 0 else "acknowledged", stamp(NOW), ago(n), ago(n))
            for n in range(3, n_cases + 1, 3)
        ),
    )
    insert(
        db,
        "INSERT INTO outbox (platform, chat_id, payload, state, created_at)"
        " VALUES ('memory', ?, '{}', ?, ?)",
        ((f"u{n}", "dead" if n % 100 == 0 else "sent", ago(n)) for n in range(10_000)),
    )
    db.close()


def seed_log(db: sqlite3.Connection, size: int) -> None:
    """`size` leaves and every perfect node above them, as storage/ledger.py keeps them."""
    insert(
        db,
        "INSERT INTO ledger_leaves (leaf_index, kind, data, created_at)"
        " VALUES (?, 'evidence', ?, ?)",
        ((n, f"leaf {n}".encode(), ago(n)) for n in range(size)),
    )
    level = [hashlib.sha256(b"\x00" + f"leaf {n}".encode()).digest() for n in range(size)]
    depth = 0
    while level:
        insert(
            db,
            "INSERT INTO ledger_nodes (level, node_index, hash) VALUES (?, ?, ?)",
            ((depth, n, value) for n, value in enumerate(level)),
        )
        level = [
            hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        depth += 1


BASELINE_QUERIES = (
    "SELECT count(*) FROM cases WHERE created_at > :since",
    "SELECT cases.severity, cases.step, count(*) FROM cases"
    " LEFT OUTER JOIN case_handling ON case_handling.case_id = cases.id"
    " WHERE cases.status != 'closed' AND case_handling.resolved_at IS NULL"
    " GROUP BY cases.severity, cases.step",
    "SELECT count(*) FROM reminders WHERE state IN ('pending', 'fired') AND remind_at <= :now",
    "SELECT count(*) FROM escalations WHERE state = 'open'",
    "SELECT case_id FROM escalations WHERE state = 'open' ORDER BY opened_at LIMIT 10",
    "SELECT count(*) FROM evidence_items WHERE received_at > :since",
    "SELECT count(*) FROM reminders WHERE fired_at > :since",
    "SELECT count(*) FROM outbox WHERE state = 'dead'",
    "SELECT max(leaf_index) FROM ledger_leaves",
)


def baseline(path: Path) -> list[float]:
    """The same figures by bare SQL over sqlite3: seconds per run."""
    db = sqlite3.connect(path)
    params = {"since": stamp(NOW - timedelta(hours=24)), "now": stamp(NOW)}
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for query in BASELINE_QUERIES:
            db.execute(query, params).fetchall()
        times.append(time.perf_counter() - started)
    db.close()
    return times


async def briefing(data_dir: Path) -> tuple[list[float], int, str]:
    """Haven's briefing: seconds per run, traced peak bytes of one run, and the text."""
    config = load_config(None, data_dir_override=data_dir)
    haven = await Haven.open(config, {"memory": MemoryAdapter()}, ManualClock(NOW))
    briefer = haven.staff.briefer
    times = []
    text = ""
    try:
        for _ in range(RUNS):
            started = time.perf_counter()
            async with haven.db.transaction() as conn:
                text = await briefer.compose(conn, NOW)
            times.append(time.perf_counter() - started)
        tracemalloc.start()
        async with haven.db.transaction() as conn:
            await briefer.compose(conn, NOW)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        await haven.close()
    return times, peak, text


async def prepare(data_dir: Path, cases: int, items: int, reminders: int) -> float:
    """Migrate an empty Haven data directory, then seed it; returns the seeding seconds."""
    config = load_config(None, data_dir_override=data_dir)
    haven = await Haven.open(config, {"memory": MemoryAdapter()}, ManualClock(NOW))
    await haven.close()
    started = time.perf_counter()
    seed(data_dir / "haven.db", cases, items, reminders)
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def measure(root: Path, cases: int, items: int, reminders: int) -> dict[str, object]:
    seeded = await prepare(root, cases, items, reminders)
    ours, traced_peak, text = await briefing(root)
    base = baseline(root / "haven.db")
    ours_s, base_s = statistics.median(ours), statistics.median(base)
    return {
        "cases": cases,
        "items": items,
        "reminders": reminders,
        "seed_s": round(seeded, 1),
        "briefing_s": round(ours_s, 4),
        "baseline_s": round(base_s, 4),
        "ratio": round(ours_s / base_s, 3),
        "traced_peak_kb": round(traced_peak / 1024, 1),
        "text": text,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--reminders", type=int, default=500_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        small = await measure(
            Path(scratch) / "tenth", args.cases // 10, args.items // 10, args.reminders // 10
        )
        full = await measure(Path(scratch) / "full", args.cases, args.items, args.reminders)
    rss = peak_rss_mb()
    print(full.pop("text"))
    small.pop("text")
    print()
    for run in (small, full):
        print(
            f"{run['cases']:>7} cases {run['items']:>8} items {run['reminders']:>7} reminders:"
            f" briefing {run['briefing_s']} s, bare SQL {run['baseline_s']} s,"
            f" ratio {run['ratio']}, traced peak {run['traced_peak_kb']} KB"
            f" (seeded in {run['seed_s']} s)"
        )
    print(f"peak RSS (whole process, seeding included) {rss} MB")
    print(
        json.dumps(
            {
                "bench": "briefing",
                "tenth": small,
                "full": full,
                "peak_rss_mb": rss,
                "ratio": full["ratio"],
            },
            default=str,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
