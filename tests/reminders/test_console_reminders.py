"""A reminder seen arriving in the console: `haven run` with piped input, as a user runs it."""

from __future__ import annotations

from pathlib import Path

from tests.backends import Backend
from tests.ops.test_cli import haven

# Up to the first checklist item, which has a 30-minute deadline, and no further.
SCRIPT = "\n".join(
    (
        "/start",
        "English",
        "1",
        "No",
        "No",
        "No",
        "Nowhere yet",
        "Chat records or screenshots",
        "Done choosing",
        "I don't know",
    )
)


def test_a_short_test_deadline_is_seen_arriving_and_the_run_still_exits_zero(
    tmp_path: Path, backend: Backend
) -> None:
    config = tmp_path / "demo.toml"
    # 30 minutes become 1.8 seconds; no quiet hours, so the test passes at any hour.
    text = "[reminders]\ndelay_factor = 0.001\nquiet_hours_enabled = false\n"
    config.write_text(backend.config_text(text), encoding="utf-8")
    args = ("run", "--adapter", "console", "--config", str(config))
    result = haven(*args, "--data-dir", str(tmp_path / "data"), stdin=SCRIPT + "\n")
    assert result.returncode == 0, result.stderr
    scheduled = result.stdout.index("I'll remind you at:")
    arrived = result.stdout.index("⏰ A gentle reminder:")
    assert scheduled < arrived
    buttons = "[1] Done   [2] Snooze 1 hour   [3] Tomorrow morning   [4] Not relevant"
    assert buttons in result.stdout[arrived:]
