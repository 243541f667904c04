"""What `make test` promises when PostgreSQL cannot be reached, checked by running pytest
itself on a small module whose tests run on both backends: on a newcomer's machine the
SQLite half runs and one line says the PostgreSQL half was left out and how to run it;
with CI=true the run stops, naming the reason. In one process and in pytest-xdist's
workers (`make test` runs `-n auto`), where the line comes from a worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import ADMIN_URL_ENV, HOW_TO_RUN

REPO = Path(__file__).resolve().parents[1]
BOTH_BACKENDS = "tests/storage/test_blob_stores.py"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_pytest(workers: str, *, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env[ADMIN_URL_ENV] = f"postgresql://postgres@127.0.0.1:{closed_port()}/postgres"
    if ci:
        env["CI"] = "true"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", workers]
    return subprocess.run(
        [*command, BOTH_BACKENDS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("workers", ["0", "2"])
def test_without_postgresql_the_sqlite_half_runs_and_one_line_says_so(workers: str) -> None:
    result = run_pytest(workers, ci=False)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if "PostgreSQL suite skipped" in line]
    assert len(lines) == 1, result.stdout
    assert HOW_TO_RUN in lines[0]
    assert "passed" in result.stdout


@pytest.mark.parametrize("workers", ["0", "2"])
def test_in_ci_an_unreachable_postgresql_stops_the_run_with_its_reason(workers: str) -> None:
    result = run_pytest(workers, ci=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true and PostgreSQL is unreachable" in result.stdout + result.stderr
    assert "passed" not in result.stdout
