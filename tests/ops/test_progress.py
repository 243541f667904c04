"""Progress bars for the long operator commands: drawn on a terminal (a real
pseudo-terminal here), never into a pipe or a file, where the output stays as it was."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from bot.evidence.export import READ_STAGE
from bot.evidence.retention import ERASE_STAGE
from bot.evidence.rotation import REWRAP_STAGE
from bot.evidence.verify import VERIFY_STAGE
from storage.audit import AUDIT_STAGE
from tests.ops.test_cli import HAVEN, haven

SCRIPT = "/start\nEnglish\n" + "".join(f"/forward Sender {n} | message {n}\n" for n in range(5))


def on_terminal(*args: str) -> tuple[int, str]:
    """Run `haven ARGS` with stdout and stderr on a pseudo-terminal; its exit status and
    everything it drew."""
    leader, follower = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    environment.update(TERM="xterm-256color", COLUMNS="160")
    process = subprocess.Popen(
        [*HAVEN, *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process has closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return process.wait(timeout=120), drawn.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("progress") / "data"
    result = haven("run", "--data-dir", str(path), stdin=SCRIPT)
    assert result.returncode == 0, result.stderr
    return path


@pytest.mark.parametrize(
    ("command", "stage"),
    [
        (["audit", "verify"], AUDIT_STAGE),
        (["retention", "--apply"], ERASE_STAGE),
        (["keys", "rotate"], REWRAP_STAGE),
    ],
    ids=["audit", "retention", "rotate"],
)
def test_a_terminal_sees_a_progress_bar_a_pipe_does_not(
    data: Path, command: list[str], stage: str
) -> None:
    status, drawn = on_terminal(*command, "--data-dir", str(data))
    assert status == 0, drawn
    assert stage.split(" (")[0] in drawn
    piped = haven(*command, "--data-dir", str(data))
    assert piped.returncode == 0, piped.stderr
    assert stage.split(" (")[0] not in piped.stdout + piped.stderr
    assert "\x1b" not in piped.stdout + piped.stderr


def test_export_and_verify_show_their_progress_on_a_terminal(data: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "case-1.zip"
    status, drawn = on_terminal(
        "export", "1", "--out", str(bundle), "--reason", "court", "--data-dir", str(data)
    )
    assert status == 0, drawn
    assert READ_STAGE in drawn and VERIFY_STAGE.split(" (")[0] in drawn
    status, drawn = on_terminal("verify", str(bundle))
    assert status == 0, drawn
    assert VERIFY_STAGE.split(" (")[0] in drawn
    piped = haven("verify", str(bundle))
    assert piped.returncode == 0 and "\x1b" not in piped.stdout + piped.stderr
    assert VERIFY_STAGE.split(" (")[0] not in piped.stdout + piped.stderr
