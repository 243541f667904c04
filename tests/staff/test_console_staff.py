"""The staff side seen from the console, as `haven run` with piped input: an extortion
answer alerts the staff, the shortened timeout escalates it, acknowledging stops it and
edits the alerts, a briefing is asked for, and a retrieval goes through four eyes."""

from __future__ import annotations

from pathlib import Path

from tests.backends import Backend
from tests.ops.test_cli import haven

CONFIG = """
default_locale = "en"

[[escalation.levels]]
channels = ["console:staff"]
timeout_minutes = 0.02  # 1.2 seconds, for the demo
repeat_minutes = 30

[[escalation.levels]]
channels = ["console:leads"]
timeout_minutes = 30
repeat_minutes = 30

[[staff]]
platform = "console"
user_id = "bob"
role = "admin"
name = "Bob"
"""

SCRIPT = "\n".join(
    (
        "/start",
        "English",
        "1",
        "No",
        "Yes",  # someone is demanding money: critical, the staff are alerted
        "They want money by Friday",
        "No",
        "3",
        "1",
        "6",
        "1",
        "@wait 2.5",  # nobody acknowledges: level 2 is alerted
        "@staff 1",  # Acknowledge, on the latest alert
        "@staff /cases",
        "@staff /brief",
        "/forward Zhang San | pay or else",
        "@staff /retrieve 1 --from 2000-01-01 --to 2100-01-01 --reason police asked",
        "@staff /approve 1",  # one's own request: refused
        "@staff:bob /approve 1",  # a second admin
    )
)


def test_escalation_acknowledgement_briefing_and_retrieval_from_the_console(
    tmp_path: Path, backend: Backend
) -> None:
    config = tmp_path / "staff.toml"
    config.write_text(backend.config_text(CONFIG), encoding="utf-8")
    args = ("run", "--adapter", "console", "--config", str(config))
    result = haven(*args, "--data-dir", str(tmp_path / "data"), stdin=SCRIPT + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    alert = out.index("[staff] 🚨 Case #1 · urgent · Someone is demanding money")
    assert "[staff] [1] Acknowledge   [2] Take case   [3] Resolve" in out[alert:]
    assert "[leads] [1] Acknowledge" in out
    escalated = out.index("[leads] ⏫ Not acknowledged for")
    assert alert < escalated < out.index("[staff] ⏫ Case #1 was not acknowledged within")
    acknowledged = out.index("✅ Case #1 acknowledged by staff")
    assert escalated < acknowledged
    assert out.count("(edited)") >= 2 and "✅ Acknowledged by staff at" in out
    assert "A member of our support team has seen your case" in out
    assert "[staff] Open cases (1):" in out
    assert "[staff] 📋 Briefing on request" in out
    assert "Retrieval #1 is your own request" in out
    delivered = out.index("[staff:staff] 🔐 Retrieval #1: the evidence bundle of case #1")
    assert "📎 " in out[delivered:]
    assert "pay or else" not in out[out.index("/retrieve") :].replace(
        "you   › /forward Zhang San | pay or else", ""
    )
