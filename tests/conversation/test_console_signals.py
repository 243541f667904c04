"""Danger signals seen from the console, as `haven run` with piped input: at the first
triage question, a clear cry for help, a message the classifier is unsure of (asked
about directly, answered Yes or No), and an everyday idiom, in both languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content.playbook import load_playbook
from bot.conversation.signal_corpus import load_split
from bot.conversation.signal_model import Zone, default_model
from bot.conversation.signals import SignalDetector
from tests.ops.test_cli import haven

SUPPORT = '[support]\nhotlines = [{ name = "Checked line", number = "000-TEST" }]\n'


def uncertain_self_harm(language: str) -> str:
    """A corpus message the model is unsure is about self-harm, and nothing else. Both
    splits the model learnt from: it fits them closely, so either may hold none."""
    detector = SignalDetector(load_playbook().signals, default_model())
    for example in load_split("validation") + load_split("train"):
        if example.language != language or example.labels != {"self_harm"}:
            continue
        reading = detector.read(example.text)
        zones = default_model().zones(example.text)
        if not reading.clear and [s.id for s in reading.uncertain] == ["self_harm"]:
            assert zones["self_harm"] is Zone.UNCERTAIN
            return example.text
    raise AssertionError(f"no {language} message in the uncertain zone")


def run(tmp_path: Path, config: str, lines: list[str]) -> tuple[str, str]:
    path = tmp_path / "haven.toml"
    path.write_text(config, encoding="utf-8")
    args = ("run", "--adapter", "console", "--config", str(path))
    result = haven(*args, "--data-dir", str(tmp_path / "data"), stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


@pytest.mark.parametrize(
    ("language", "choose", "clear", "idiom", "answer"),
    [
        ("en", "English", "I want to kill myself", "I'm dead tired", "No"),
        ("zh", "中文", "我真的不想活了", "笑死，累死了", "是的"),
    ],
)
def test_three_zones_at_the_first_triage_question(
    tmp_path: Path, language: str, choose: str, clear: str, idiom: str, answer: str
) -> None:
    locale = "en" if language == "en" else "zh-CN"
    words = load_playbook().texts
    asked = uncertain_self_harm(language)
    out, _ = run(tmp_path, SUPPORT, ["/start", choose, "1", asked, answer, clear, idiom])
    # uncertain: the direct question, with its three answers
    question = out.index(words.get(locale, "signal.self_harm.ask"))
    labels = [words.get(locale, f"ui.btn_check_{a}") for a in ("yes", "no", "skip")]
    assert f"[1] {labels[0]}   [2] {labels[1]}   [3] {labels[2]}" in out[question:]
    # clear (and a Yes): the crisis reply with the support line, and the staff alerted
    replies = out.count(words.get(locale, "signal.self_harm.reply"))
    assert replies == (2 if answer == labels[0] else 1)
    assert "000-TEST" in out[question:]
    assert "[staff] 🚨" in out
    # ordinary: thanks, a person on offer, and the question again
    ack = out.rindex(words.get(locale, "ui.free_text_ack"))
    assert f"[1] {words.get(locale, 'ui.btn_person')}" in out[ack:]
    assert words.get(locale, "question.safety.prompt") in out[ack:]
    if answer == labels[1]:
        assert words.get(locale, "signal.self_harm.no") in out


def test_without_a_support_line_haven_warns_at_start_and_still_gives_the_numbers(
    tmp_path: Path,
) -> None:
    out, err = run(tmp_path, "", ["/start", "English", "1", "I want to kill myself"])
    assert "warning: no support line is set" in err
    assert "• 报警 / Police: 110" in out
    assert load_playbook().texts.get("en", "ui.no_hotlines") in out


@pytest.mark.parametrize(
    ("choose", "locale", "account"),
    [
        (
            "中文",
            "zh-CN",
            "上周他把我们的聊天截图发到了公司群里。部门里的人都看到了，有人还在私下议论。"
            "我觉得活着没什么意思了。我该先做什么？",
        ),
        (
            "English",
            "en",
            "Last week he put screenshots of our chats in the office group. Everyone in my "
            "team has seen them and people keep whispering. I just want it all to stop for "
            "good. What should I do first?",
        ),
    ],
)
def test_a_cry_for_help_inside_a_longer_message_is_asked_about(
    tmp_path: Path, choose: str, locale: str, account: str
) -> None:
    out, _ = run(tmp_path, SUPPORT, ["/start", choose, "1", account])
    assert load_playbook().texts.get(locale, "signal.self_harm.ask") in out
