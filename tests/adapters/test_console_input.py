"""The console adapter on hostile or odd input, as `haven run` with piped bytes: `/attach`
takes regular files only, undecodable bytes and impossible dates are answered and the
reading goes on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HAVEN = [sys.executable, "-m", "bot"]
SECRET = "tok-do-not-keep-7Q9"


def console(data: Path, script: bytes) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    environment["HAVEN_SLACK_BOT_TOKEN"] = SECRET  # in /proc/self/environ
    result = subprocess.run(
        [*HAVEN, "run", "--adapter", "console", "--data-dir", str(data)],
        input=script,
        capture_output=True,
        timeout=120,
        env=environment,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        result.stdout.decode("utf-8", errors="replace"),
        result.stderr.decode("utf-8", errors="replace"),
    )


def kept(out: str) -> int:
    return out.count("Kept safely as evidence #")


def test_attach_takes_regular_files_only(tmp_path: Path) -> None:
    mine = tmp_path / "screenshot.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels" * 100)
    outside = tmp_path / "elsewhere" / "shadow"
    outside.parent.mkdir()
    outside.write_text("root:*:19000:0:99999:7:::\n")
    link = tmp_path / "innocent.txt"
    link.symlink_to(outside)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    refused = [link, Path("/proc/self/environ"), Path("/dev/zero"), fifo, tmp_path]
    if Path("/sys/kernel/uevent_seqnum").exists():
        refused.append(Path("/sys/kernel/uevent_seqnum"))
    lines = ["/start", "English", *(f"/attach {path}" for path in refused), f"/attach {mine}"]
    result = console(tmp_path / "data", ("\n".join(lines) + "\n/evidence\n").encode())
    assert result.returncode == 0, result.stderr
    assert kept(result.stdout) == 1, result.stdout
    assert "is a link" in result.stdout
    assert result.stdout.count("it was not attached") == len(refused) - 1
    assert "#2" not in result.stdout


def test_a_line_that_cannot_be_read_is_answered_and_reading_goes_on(tmp_path: Path) -> None:
    """`/forward A @0001-01-01 00:00 | x` raised OverflowError, which ended the reading
    silently: every later line was dropped and the exit code was 0."""
    script = (
        b"/start\nEnglish\n"
        b"/forward A @0001-01-01 00:00 | x\n"
        b"/forward Boss | caf\xe9 \xff\xfe pay or else\n"
        b"/forward Boss @2025-11-03 14:30 | the last one\n"
        b"/evidence\n"
    )
    result = console(tmp_path / "data", script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "not a date Haven can use: @0001-01-01 00:00" in out
    assert "not UTF-8 text" in out
    assert kept(out) == 2, out
    assert "Traceback" not in result.stderr
