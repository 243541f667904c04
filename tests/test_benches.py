"""Every benchmark still runs, at a size that takes seconds, and ends with its JSON line.

Only that they run and report: figures are for bench/ to print, never for a test to judge.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import Backend

ROOT = Path(__file__).resolve().parents[1]

SMALL = {
    "journey": "--victims 20 --open-cases 20 --paced-victims 5 --paced-rate 50",
    "burst": "--forwards 20 --spread 1",
    "evidence": "--texts 40 --files 2 --victims 2 --leaves 3000 --proofs 20",
    "handoff": "--conversations 3 --messages 2 --plain 2",
    "slack": "--users 2 --rounds 3",
    "telegram": "--users 2 --rounds 3",
    "reminders": "--pending 200 --burst 20 --messages 50",
    "briefing": "--cases 200 --items 1000 --reminders 500",
    "search": "--items 200 --runs 1",
    "web": "--sessions 3 --messages 3",
    "report": "--items 40 --images 4",
    "signals": "--runs 1",
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_bench_runs_and_reports_a_ratio(name: str) -> None:
    assert_reports(name, SMALL[name], timeout=110)


# It starts five Haven processes in turn, on PostgreSQL and on SQLite: with the
# PostgreSQL half of the suite.
@pytest.mark.only_on("postgresql")
@pytest.mark.timeout(400)
def test_the_scale_bench_runs_and_reports_a_ratio(backend: Backend) -> None:
    assert_reports("scale", "--victims 2 --rounds 1", timeout=380)


def assert_reports(name: str, args: str, *, timeout: float) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args.split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["bench"] == name
    assert "ratio" in report
