"""Talking with a victim from the console, as `haven run` with piped input, in both
languages: an extortion answer alerts the staff, *Take case* opens the conversation, the
victim's words reach the staff member's private chat masked (`[staff:NAME]`), their answer
(`@dm:NAME …`) reaches the victim under their chosen name, `/release` hands the victim back
to the checklist, and the custody log tells it in words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.playbook import load_playbook
from tests.ops.test_cli import haven

CONFIG = """
default_locale = "{locale}"

[[escalation.levels]]
channels = ["console:staff"]

[[staff]]
platform = "console"
user_id = "sam"
role = "operator"
name = "Sam"
display_name = "Li"
"""

TEXTS = load_playbook().texts


def script(language: str) -> str:
    return "\n".join(
        (
            "/start",
            language,
            "1",
            "2",  # no
            "1",  # someone is demanding money: urgent, the staff are alerted
            "They want money",
            "2",
            "3",
            "1",
            "6",
            "1",
            "@staff:sam 2",  # Take case, on the alert
            "Please can someone call me? 13812345678",
            "@dm:sam I am here. I can call you at 3pm.",
            "@staff:sam /case 1 --talk",
            "@staff:sam /release 1",
            "@staff /custody 1",
        )
    )


@pytest.mark.parametrize(("language", "locale"), [("English", "en"), ("中文", "zh-CN")])
def test_take_talk_and_release_from_the_console(tmp_path: Path, language: str, locale: str) -> None:
    config = tmp_path / "staff.toml"
    config.write_text(CONFIG.format(locale=locale), encoding="utf-8")
    args = ("run", "--adapter", "console", "--config", str(config))
    result = haven(*args, "--data-dir", str(tmp_path / "data"), stdin=script(language) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout

    def t(key: str, **fields: object) -> str:
        return TEXTS.get(locale, key, **fields)

    taken = out.index("[staff] " + t("talk.taken", case_id=1, who="Sam", name="Li"))
    started = out.index("Haven › " + t("talk.victim_started", name="Li"))
    relayed = out.index(
        "[staff:sam] "
        + t("talk.relayed", case_id=1, text="Please can someone call me? 138****5678")
    )
    answered = out.index(
        "Haven › " + t("talk.from_staff", name="Li", text="I am here. I can call you at 3pm.")
    )
    assert started < relayed < answered and taken < relayed
    assert "13812345678" not in out[out.index("you   › Please can someone") + 60 :]
    released = out.index("Haven › " + t("talk.victim_ended_by_staff", name="Li"))
    assert answered < released
    assert t("step.1.title") in out[released:], "the checklist resumes where it was"
    custody = out[out.index("you   › @staff /custody 1") :]
    for action in ("talk_started", "staff_message", "talk_ended"):
        assert t(f"custody.{action}") in custody
    to_victim = [line for line in out.splitlines() if line.startswith("Haven › ")]
    assert not any("sam" in line.casefold() for line in to_victim), "never the handle"
