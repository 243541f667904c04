"""A platform's library is loaded only when its adapter is enabled."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from bot.config import load_config
from bot.runtime import build_adapters
config = load_config(None, data_dir_override={data!r})
assert list(build_adapters(config)) == ["console"]
print(sorted({{m.split(".")[0] for m in sys.modules}} & {{"telegram", "slack_bolt", "slack_sdk"}}))
"""


def test_a_console_deployment_loads_neither_telegram_nor_slack(tmp_path: Path) -> None:
    probe = PROBE.format(data=str(tmp_path / "data"))
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
