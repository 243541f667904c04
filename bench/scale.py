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

The databases are created for the run on the server at HAVEN_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped at the end. The fake and the
victims run in this process, the instances in their own, PostgreSQL in its own: on a
machine of two cores they all share them.

    .venv/bin/python bench/scale.py [--victims 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The repository replaces this folder at the head of sys.path: bench/telegram.py would
# otherwise shadow the `telegram` package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import backends
from tests.backends import PostgresSession
from tests.fakes.telegram_api import FakeBotAPI
from tests.fleet import Chats, Fleet, Victim


async def run_setup(
    root: Path, database_url: str, instances: int, victims: int
) -> dict[str, float]:
    fake = FakeBotAPI()
    await fake.start()
    chats = Chats(fake)
    fleet = Fleet(root, fake, database_url)
    try:
        await fleet.start(instances)
        people = [Victim(chats, fake, 90_000 + n) for n in range(victims)]
        started = time.perf_counter()
        await asyncio.gather(*(person.journey() for person in people))
        elapsed = time.perf_counter() - started
    finally:
        await fleet.stop()
        await fake.close()
    latencies = [latency for person in people for latency in person.latencies]
    turns = len(latencies) + sum(person.resent for person in people)
    return {
        "instances": instances,
        "turns": turns,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(turns / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 1),
    }


async def run_all(server: PostgresSession, victims: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="haven-scale-") as scratch:
        root = Path(scratch)
        one = await run_setup(root / "pg1", server.fresh(), 1, victims)
        two = await run_setup(root / "pg2", server.fresh(), 2, victims)
        lite_url = f"sqlite+aiosqlite:///{root / 'lite' / 'i0' / 'haven.db'}"
        lite = await run_setup(root / "lite", lite_url, 1, victims)
    return {"postgresql_1": one, "postgresql_2": two, "sqlite_1": lite}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victims", type=int, default=40)
    args = parser.parse_args()
    problem = backends.reachable(backends.admin_url())
    if problem is not None:
        sys.exit(f"bench/scale.py needs PostgreSQL ({problem}): {backends.HOW_TO_RUN}")
    server = PostgresSession(backends.admin_url())
    server.start()
    try:
        runs = asyncio.run(run_all(server, args.victims))
    finally:
        server.stop()
    one, two, lite = runs["postgresql_1"], runs["postgresql_2"], runs["sqlite_1"]
    scaling = round(two["turns_per_s"] / one["turns_per_s"], 3)
    versus_sqlite = round(one["turns_per_s"] / lite["turns_per_s"], 3)
    print(f"victims                 {args.victims} (whole journeys with evidence)")
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
