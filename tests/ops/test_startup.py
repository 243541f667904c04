"""What `haven` says and refuses at start: a data directory without Haven data is refused
by every command that works on one (only `init` and `run` set one up, and `run` says so);
an escalation channel on a platform that is not enabled, and a console-only Haven reading
/dev/null (as under systemd), are refused in one line; one summary says what runs, and
each quietly missing thing gets a warning."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.ops.cli import main
from tests.ops.test_cli import HAVEN, haven

COMMANDS = [
    ["audit", "verify"],
    ["retention", "--dry-run"],
    ["retention", "--apply"],
    ["outbox"],
    ["outbox", "retry"],
    ["export", "1", "--out", "bundle.zip", "--reason", "court"],
    ["report", "1", "--out", "report.pdf", "--reason", "court"],
    ["hold", "1", "--reason", "court"],
    ["release", "1"],
    ["erase", "1", "--yes"],
    ["keys", "rotate"],
    ["migrate", "--to", "postgresql+asyncpg://nobody@127.0.0.1:1/none"],
    ["backup", "--out", "backup.tar"],
]


@pytest.fixture(autouse=True)
def _no_haven_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HAVEN_CONFIG", "HAVEN_MASTER_KEY", "HAVEN_TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_data_dir_without_haven_data_is_refused_and_nothing_is_created(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "WRONG" / "PATH"
    assert main([*command, "--data-dir", str(wrong)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(wrong) in err and "holds no Haven data" in err
    assert not (tmp_path / "WRONG").exists()


def test_an_empty_existing_directory_is_refused_and_left_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "mounted-later"
    empty.mkdir()
    assert main(["audit", "verify", "--data-dir", str(empty)]) != 0
    assert "audit passed" not in capsys.readouterr().out
    assert list(empty.iterdir()) == []


def test_commands_work_on_a_data_dir_haven_set_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert haven("init", "--data-dir", str(data)).returncode == 0
    result = haven("audit", "verify", "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    assert "audit passed" in result.stdout
    assert haven("outbox", "--data-dir", str(data)).returncode == 0


def test_run_says_when_it_starts_a_new_data_dir_and_not_the_next_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = haven("run", "--data-dir", str(data), stdin="/help\n")
    assert first.returncode == 0, first.stderr
    assert f"data directory  {data} (new:" in first.stderr
    second = haven("run", "--data-dir", str(data), stdin="/help\n")
    assert second.returncode == 0, second.stderr
    assert f"data directory  {data}\n" in second.stderr


def test_the_start_up_summary_names_adapters_data_database_staff_and_support(
    tmp_path: Path,
) -> None:
    config = tmp_path / "haven.toml"
    config.write_text(
        '[support]\nhotlines = [{ name = "Line", number = "000" }]\n'
        '[[staff]]\nplatform = "console"\nuser_id = "alice"\nrole = "admin"\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    result = haven("run", "--config", str(config), "--data-dir", str(data), stdin="/help\n")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "Haven is starting" in lines
    assert "  adapters        console" in lines
    assert f"  database        sqlite+aiosqlite:///{data}/haven.db" in lines
    assert any(line.startswith("  staff           1 in [[staff]]") for line in lines)
    assert any(line.startswith("  support lines   1 ([support] hotlines)") for line in lines)
    assert "warning" not in result.stderr


def test_each_quiet_problem_gets_a_warning(tmp_path: Path) -> None:
    config = tmp_path / "haven.toml"
    config.write_text(
        '[[staff]]\nplatform = "console"\nuser_id = "alice"\nrole = "admin"\n'
        'name = "Alice"\ntotp_secret_env = "HAVEN_TOTP_ALICE"\n',
        encoding="utf-8",
    )
    result = haven(
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        stdin="/help\n",
        env={"HAVEN_TELEGRAM_TOKEN": "123:abc", "HAVEN_SLACK_BOT_TOKEN": "xoxb-1"},
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 4, result.stderr
    telegram, slack, totp, support = warnings
    assert "HAVEN_TELEGRAM_TOKEN is set but the telegram adapter is not enabled" in telegram
    assert "HAVEN_SLACK_BOT_TOKEN" in slack and "slack adapter is not enabled" in slack
    assert "Alice" in totp and "HAVEN_TOTP_ALICE is not set" in totp
    assert "no support line is set" in support
    assert "123:abc" not in result.stderr and "xoxb-1" not in result.stderr


def test_a_console_only_haven_reading_dev_null_says_so_and_exits_non_zero(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        [*HAVEN, "run", "--data-dir", str(data)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")},
    )
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert "/dev/null" in line and "systemd" in line
    assert not (data / "haven.db").exists()


def test_an_escalation_channel_of_a_disabled_adapter_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "haven.toml"
    config.write_text(
        '[[escalation.levels]]\nchannels = ["console:staff"]\n'
        '[[escalation.levels]]\nchannels = ["telegram:-1001234567890"]\n',
        encoding="utf-8",
    )
    data = tmp_path / "data"
    result = haven("run", "--config", str(config), "--data-dir", str(data), stdin="/start\n")
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert '"telegram:-1001234567890"' in line
    assert 'add "telegram" to [adapters] enabled' in line.lower()
    assert not (data / "haven.db").exists()


def test_the_example_config_has_no_active_level_so_a_pasted_one_comes_first(
    tmp_path: Path,
) -> None:
    from bot.config import load_config

    example = Path(__file__).parents[2] / "config.example.toml"
    pasted = '\n[[escalation.levels]]\nchannels = ["telegram:-1001234567890"]\n'
    path = tmp_path / "config.toml"
    path.write_text(example.read_text(encoding="utf-8") + pasted, encoding="utf-8")
    config = load_config(path, data_dir_override=tmp_path / "data")
    assert [level.channels for level in config.escalation.levels] == [["telegram:-1001234567890"]]


def test_the_log_is_reopened_when_logrotate_moves_it(tmp_path: Path) -> None:
    import logging

    from bot.runtime import configure_logging

    root = logging.getLogger()
    before = list(root.handlers)
    configure_logging(tmp_path, verbose=False)
    try:
        logging.getLogger("haven.test").warning("before the rotation")
        (tmp_path / "haven.log").rename(tmp_path / "haven.log.1")
        logging.getLogger("haven.test").warning("after the rotation")
        assert "before the rotation" in (tmp_path / "haven.log.1").read_text()
        assert "after the rotation" in (tmp_path / "haven.log").read_text()
    finally:
        for handler in root.handlers[len(before) :]:
            root.removeHandler(handler)
            handler.close()


def test_a_platform_only_deployment_left_with_the_default_console_level_is_told_what_to_do(
    tmp_path: Path,
) -> None:
    config = tmp_path / "haven.toml"
    config.write_text('[adapters]\nenabled = ["web", "slack"]\n', encoding="utf-8")
    secrets = {"HAVEN_SLACK_BOT_TOKEN": "xoxb-1", "HAVEN_SLACK_SIGNING_SECRET": "s"}
    result = haven(
        "run", "--config", str(config), "--data-dir", str(tmp_path / "data"), env=secrets
    )
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert '"console:staff"' in line and 'a channel on slack instead, such as "slack:' in line
