"""Chinese texts use Chinese punctuation: no ASCII comma or quote next to a Chinese
character, in the content and in what the code puts together (lists, staff lines)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.content.playbook import Playbook
from bot.staff.access import Roster
from bot.staff.texts import StaffTexts
from tests.content.test_content import EXPECTED_FIELDS, all_texts, playbook

__all__ = ["playbook"]  # the module's fixture

CJK = r"[\u3400-\u9fff\u3000-\u303f\uff01-\uff5e]"
ASCII_BESIDE_CJK = re.compile(rf"{CJK} ?[,\"']|[,\"'] ?{CJK}")
# Lists of words people may type, split on ASCII commas: data, not sentences.
TYPED_WORDS = ("ui.typed_check_",)


def ascii_punctuation_in_chinese(text: str) -> list[str]:
    return [text[max(0, m.start() - 8) : m.end() + 8] for m in ASCII_BESIDE_CJK.finditer(text)]


def test_the_checker_finds_what_it_must() -> None:
    assert ascii_punctuation_in_chinese('留下的只有"曾有一个案件"的记录')
    assert not ascii_punctuation_in_chinese("已关联到证据 #1、#2。")


def test_chinese_content_has_chinese_punctuation(playbook: Playbook) -> None:
    found = {
        key: hits
        for locale, key, text in all_texts(playbook)
        if locale == "zh-CN" and not key.startswith(TYPED_WORDS)
        if (hits := ascii_punctuation_in_chinese(text))
    }
    assert found == {}


def test_lists_and_staff_lines_put_together_in_chinese(playbook: Playbook) -> None:
    words = StaffTexts(playbook.texts, "zh-CN", ZoneInfo("Asia/Shanghai"), Roster(()), str)
    separator = playbook.texts.get("zh-CN", "meta.list_separator")
    assert not ascii_punctuation_in_chinese(f"证据{separator.join(['#1', '#2'])}已关联")
    assert words.span(timedelta(0)) != "0秒"
    assert words.step(0) == "开头的问题" and words.step(2) == "第2步"
    line = words.t(
        "staff.case_line",
        **{name: "X" for name in EXPECTED_FIELDS["staff.case_line"] - {"step", "age"}},
        step=words.step(0),
        age=words.span(timedelta(seconds=0)),
    )
    assert "步骤 —" not in line and "0秒前" not in line
