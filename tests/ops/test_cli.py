"""The `haven` command as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

HAVEN = [sys.executable, "-m", "bot"]


def haven(
    *args: str, stdin: str = "", cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    environment.update(env or {})
    return subprocess.run(
        [*HAVEN, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=environment,
    )


def tree_digest(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_scripted_console_run_exits_zero_and_resumes_after_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = haven(
        "run", "--adapter", "console", "--data-dir", str(data), stdin="/start\nEnglish\n1\n2\n"
    )
    assert first.returncode == 0, first.stderr
    assert "Haven ›" in first.stdout
    second = haven("run", "--adapter", "console", "--data-dir", str(data), stdin="/status\n")
    assert second.returncode == 0, second.stderr
    assert "Case #1" in second.stdout
    assert (data / "haven.db").exists()
    assert (data / "haven.log").exists()


def test_default_data_dir_is_created_in_the_working_directory(tmp_path: Path) -> None:
    result = haven("run", stdin="/help\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "haven.db").exists()


def test_unknown_config_key_names_it_and_touches_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('default_locale = "en"\n[limits]\nmax_text_charz = 5\n', encoding="utf-8")
    data = tmp_path / "data"
    result = haven("run", "--config", str(config), "--data-dir", str(data))
    assert result.returncode != 0
    assert "limits.max_text_charz" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not data.exists()


def test_corrupt_config_is_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("this is [not toml\n", encoding="utf-8")
    result = haven("run", "--config", str(config), "--data-dir", str(tmp_path / "data"))
    assert result.returncode != 0
    assert "broken.toml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("x", encoding="utf-8")
    result = haven("run", "--data-dir", str(not_a_dir), stdin="/start\n")
    assert result.returncode != 0
    assert "data directory" in result.stderr
    assert not_a_dir.read_text(encoding="utf-8") == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to any directory")
def test_read_only_data_dir_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    result = haven("run", "--data-dir", str(data), stdin="/start\n")
    assert result.returncode != 0
    assert "not writable" in result.stderr


def test_database_from_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert haven("run", "--data-dir", str(data), stdin="/start\n").returncode == 0
    with sqlite3.connect(data / "haven.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        db.commit()
        # Fold the write-ahead log into the main file so the digest below sees the update.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (data / "haven.log").unlink()
    before = tree_digest(data)
    result = haven("run", "--data-dir", str(data), stdin="/start\n")
    assert result.returncode != 0
    assert "newer" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    after = {k: v for k, v in tree_digest(data).items() if k != "haven.log"}
    assert {k: v for k, v in before.items() if not k.startswith("haven.db-")} == {
        k: v for k, v in after.items() if not k.startswith("haven.db-")
    }


def test_corrupt_database_file_is_a_one_line_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "haven.db").write_bytes(b"this is not a database" * 100)
    result = haven("run", "--data-dir", str(data), stdin="/start\n")
    assert result.returncode != 0
    assert "database" in result.stderr
    assert (data / "haven.db").read_bytes() == b"this is not a database" * 100


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = haven("demo", "--data-dir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    assert "[staff]" in result.stdout
    assert "demo, part 2 of 2" in result.stdout


def test_no_command_prints_help() -> None:
    result = haven()
    assert result.returncode == 2
    assert "run" in result.stdout
