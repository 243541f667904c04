"""Benchmark: does a second Haven instance on PostgreSQL add throughput?

Whole journeys (triage, a forwarded text and a photo as evidence, the checklist to its
end) through real `haven run --adapter telegram` processes behind a fake Telegram that
delivers webhooks round-robin (tests/fleet.py), in three set-ups in one run:

- PostgreSQL, one instance;
- PostgreSQL, two instances (separate processes, one database);
- SQLite, one instance (the embedded default), for reference.

Each victim sends its next message once the last one is answered. Reported per set-up:
turns per second (inbound messages handled end to end, the reply at Telegram) and the
p50/p99 time from delivering an update to its answer reaching Telegram. Then the ratios
two instances / one (PostgreSQL) and PostgreSQL / SQLite with one instance each. The
last line is JSON; its "ratio" is the two-instance scaling.

A single run of a few seconds per set-up swings by a fifth or more from one run to the
next on a shared machine, so the three set-ups run in rounds, each round in another
order, and each figure is the median of its rounds (latencies: over all rounds' turns).
Every round's own figures are in the JSON line.

The databases are created for the run on the server at HAVEN_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end. The fake and the
victims run in this process, the instances in their own, PostgreSQL in its own: on a
machine of two cores they all share them.

    .venv/bin/python bench/scale.py [--victims 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The repository replaces this folder at the head of sys.path: bench/telegram.py would
# otherwise shadow the `telegram` package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import backends
from tests.backends import PostgresSession
from tests.fakes.telegram_api import FakeBotAPI
from tests.fleet import Chats, Fleet, Victim


@dataclass
class Run:
    """One set-up's runs: turns per second of each, and every turn's latency."""

    instances: int
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "turns_per_s": round(statistics.median(self.rates), 1),
            "rounds_turns_per_s": self.rates,
            "p50_ms": round(statistics.median(self.latencies) * 1000, 1),
            "p99_ms": round(statistics.quantiles(self.latencies, n=100)[98] * 1000, 1),
        }


async def run_setup(root: Path, database_url: str, run: Run, victims: int) -> None:
    fake = FakeBotAPI()
    await fake.start()
    chats = Chats(fake)
    fleet = Fleet(root, fake, database_url)
    try:
        await fleet.start(run.instances)
        people = [Victim(chats, fake, 90_000 + n) for n in range(victims)]
        started = time.perf_counter()
        await asyncio.gather(*(person.journey() for person in people))
        elapsed = time.perf_counter() - started
    finally:
        await fleet.stop()
        await fake.close()
    latencies = [latency for person in people for latency in person.latencies]
    turns = len(latencies) + sum(person.resent for person in people)
    run.rates.append(round(turns / elapsed, 1))
    run.latencies.extend(latencies)


async def run_all(server: PostgresSession, victims: int, rounds: int) -> dict[str, dict[str, Any]]:
    runs = {"postgresql_1": Run(1), "postgresql_2": Run(2), "sqlite_1": Run(1)}
    names = list(runs)
    with tempfile.TemporaryDirectory(prefix="haven-scale-") as scratch:
        for number in range(rounds):
            for name in names[number % 3 :] + names[: number % 3]:
                root = Path(scratch) / f"{name}-{number}"
                if name == "sqlite_1":
                    url = f"sqlite+aiosqlite:///{root / 'i0' / 'haven.db'}"
                else:
                    url = server.fresh()
                await run_setup(root, url, runs[name], victims)
    return {name: run.figures() for name, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victims", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    problem = backends.reachable(backends.admin_url())
    if problem is not None:
        sys.exit(f"bench/scale.py needs PostgreSQL ({problem}): {backends.HOW_TO_RUN}")
    server = PostgresSession(backends.admin_url())
    server.start()
    try:
        runs = asyncio.run(run_all(server, args.victims, args.rounds))
    finally:
        server.stop()
    one, two, lite = runs["postgresql_1"], runs["postgresql_2"], runs["sqlite_1"]
    scaling = round(two["turns_per_s"] / one["turns_per_s"], 3)
    versus_sqlite = round(one["turns_per_s"] / lite["turns_per_s"], 3)
    print(
        f"victims                 {args.victims} (whole journeys with evidence), "
        f"{args.rounds} rounds, medians"
    )
    for name, figures in (
        ("PostgreSQL, 1 instance", one),
        ("PostgreSQL, 2 instances", two),
        ("SQLite, 1 instance", lite),
    ):
        print(
            f"{name:<24}{figures['turns_per_s']} turns/s, "
            f"p50 {figures['p50_ms']} ms / p99 {figures['p99_ms']} ms"
        )
    print(f"2 instances / 1         {scaling}")
    print(f"PostgreSQL / SQLite     {versus_sqlite}")
    print(
        json.dumps(
            {"bench": "scale", **runs, "postgresql_vs_sqlite": versus_sqlite, "ratio": scaling}
        )
    )


if __name__ == "__main__":
    main()
