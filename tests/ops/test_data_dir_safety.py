"""The data directory as a careless operator or a second process meets it: file modes
whatever the umask, a directory others can read or write, one Haven at a time on SQLite,
and a config checked whole before anything is created. Real processes, real files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_config
from bot.ops.cli import ROTATION, writer_lock
from storage.dir_lock import DataDirBusy, data_dir_lock

HAVEN = [sys.executable, "-m", "bot"]
SCRIPT = "/start\nEnglish\n/forward Boss @2025-11-03 14:30 | pay or else\n/evidence\n"
PUBLIC_FILES = {"log-public-key.pem", "log-public-key.vkey"}


def haven(*args: str, stdin: str = "", umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    return subprocess.run(
        [*HAVEN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        umask=umask,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# ---- modes ------------------------------------------------------------------------------


def test_everything_haven_creates_is_private_under_umask_000(tmp_path: Path) -> None:
    """haven.db and its WAL were 0644; haven.log and log-public-key.pem 0666, and the
    parents of a new data directory 0777, under umask 000."""
    data = tmp_path / "new" / "parent" / "data"
    run = haven("run", "--adapter", "console", "--data-dir", str(data), stdin=SCRIPT, umask=0)
    assert run.returncode == 0, run.stderr
    init = haven("init", "--data-dir", str(data), umask=0)
    assert init.returncode == 0, init.stderr
    for directory in (tmp_path / "new", tmp_path / "new" / "parent", data):
        assert mode(directory) == 0o700, directory
    files = [p for p in data.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"haven.db", "haven.log", "master.key", "log-signing.key"} <= names
    assert names >= PUBLIC_FILES
    for path in files:
        expected = 0o644 if path.name in PUBLIC_FILES else 0o600
        assert mode(path) == expected, f"{path.relative_to(data)} is {mode(path):04o}"
    for path in data.rglob("*"):
        if path.is_dir():
            assert mode(path) == 0o700, path


def test_the_write_ahead_log_is_private_while_haven_runs(tmp_path: Path) -> None:
    """-wal and -shm exist only while a connection is open: looked at from inside."""
    data = tmp_path / "data"
    script = SCRIPT + "@wait 0\n"
    process = subprocess.Popen(
        [*HAVEN, "run", "--adapter", "console", "--data-dir", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        umask=0,
        env={k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")},
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(script)
        process.stdin.flush()
        _read_until(process.stdout, "#1")  # the receipt: the database has been written
        side = [data / "haven.db-wal", data / "haven.db-shm"]
        assert all(path.exists() for path in side)
        assert all(mode(path) == 0o600 for path in side), [oct(mode(p)) for p in side]
    finally:
        process.stdin.close()
        process.wait(timeout=60)
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()


def test_an_old_database_left_readable_is_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert haven("run", "--data-dir", str(data), stdin="/start\n").returncode == 0
    (data / "haven.db").chmod(0o644)
    assert haven("run", "--data-dir", str(data), stdin="/status\n").returncode == 0
    assert mode(data / "haven.db") == 0o600


def test_a_data_dir_others_can_read_gets_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    result = haven("run", "--data-dir", str(data), stdin="/start\n")
    assert result.returncode == 0, result.stderr
    # The start-up summary names the directory too; the warnings are one line each.
    lines = result.stderr.splitlines()
    warnings = [line for line in lines if str(data) in line and "warning:" in line]
    assert len(warnings) == 1
    assert "0755" in warnings[0] and f"chmod 700 {data}" in warnings[0]


def test_a_data_dir_anyone_can_write_is_refused_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o777)
    result = haven("run", "--data-dir", str(data), stdin="/start\n")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "written by anyone" in result.stderr
    assert list(data.iterdir()) == []


# ---- one writer at a time -------------------------------------------------------------


def test_a_second_haven_on_one_sqlite_data_dir_is_refused_naming_the_first(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    first = subprocess.Popen(
        [*HAVEN, "run", "--adapter", "console", "--data-dir", str(data)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")},
    )
    assert first.stdin is not None and first.stdout is not None
    try:
        first.stdin.write("/start\n")
        first.stdin.flush()
        _read_until(first.stdout, "Haven ›")
        for command in (
            ["run", "--adapter", "console"],
            ["keys", "rotate"],
            ["erase", "1", "--yes"],
            ["retention", "--apply"],
        ):
            refused = haven(*command, "--data-dir", str(data), stdin="/start\n")
            assert refused.returncode == 2, (command, refused.stderr)
            (line,) = refused.stderr.strip().splitlines()
            assert f"pid {first.pid}" in line and "haven run" in line, line
        reading = haven("audit", "verify", "--data-dir", str(data))
        assert reading.returncode == 0, reading.stderr
    finally:
        first.stdin.close()
        assert first.wait(timeout=60) == 0
        first.stdout.close()
        assert first.stderr is not None
        first.stderr.close()
    rotated = haven("keys", "rotate", "--data-dir", str(data))
    assert rotated.returncode == 0, rotated.stderr


def test_with_postgresql_several_runs_share_the_lock_but_rotation_needs_it_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "pg.toml"
    path.write_text('[storage]\ndatabase_url = "postgresql+asyncpg://haven@127.0.0.1/x"\n')
    config = load_config(path, data_dir_override=tmp_path / "data", environ={})
    config.data_dir.mkdir(mode=0o700)
    with writer_lock(config, "haven run"), writer_lock(config, "haven run"):
        with pytest.raises(DataDirBusy, match="PostgreSQL"), writer_lock(config, ROTATION):
            pass
        with writer_lock(config, "haven erase"):
            pass  # the database keeps instances and operator commands apart
    busy = pytest.raises(DataDirBusy, match=f"pid {os.getpid()}")
    with writer_lock(config, ROTATION), busy, writer_lock(config, "haven run"):
        pass


def test_the_lock_goes_with_its_holder(tmp_path: Path) -> None:
    busy = pytest.raises(DataDirBusy, match=f"pid {os.getpid()}, haven run")
    with data_dir_lock(tmp_path, "haven run"), busy, data_dir_lock(tmp_path, ROTATION):
        pass
    with data_dir_lock(tmp_path, ROTATION):
        pass


# ---- config checked before anything is made ----------------------------------------------


@pytest.mark.parametrize("value", ["inf", str(10**30)])
def test_an_unbounded_number_creates_nothing(tmp_path: Path, value: str) -> None:
    config = tmp_path / "haven.toml"
    config.write_text(
        f'[[escalation.levels]]\nchannels = ["console:staff"]\ntimeout_minutes = {value}\n'
    )
    data = tmp_path / "data"
    result = haven("run", "--config", str(config), "--data-dir", str(data), stdin="/start\n")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "escalation.levels.0.timeout_minutes" in line
    assert not data.exists()


def _read_until(stream: object, marker: str) -> None:
    """Read a child's output until ``marker`` appears (it has then done that much)."""
    seen: list[str] = []
    readline = stream.readline  # type: ignore[attr-defined]
    while line := readline():
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"{marker!r} never came: {''.join(seen)[-2000:]}")
