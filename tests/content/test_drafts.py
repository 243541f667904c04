"""Drafts: a checklist item that asks the person to write to someone offers the text,
worded by what they told Haven where it depends on it (the preservation request, by
where it leaked), or as it is (messages to family, an employer or a school)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.content.playbook import CONTENT_DIR, ContentError, load_playbook
from bot.runtime import Haven
from tests.chat_rig import TRIAGE
from tests.conftest import Victim
from tests.conversation.test_journey import finish_step, text_of, triage

TRIAGE_TO = TRIAGE[1:-1]  # past the language, and short of where it leaked


async def reach_the_request(victim: Victim, locale: str, source: str) -> None:
    await victim.command("start")
    await victim.press(f"lang:{locale}")
    for key in TRIAGE_TO:
        await victim.press(key)
    await victim.press(f"source={source}")
    for _ in range(10):
        buttons = [b.data for b in victim.adapter.last_buttons(victim.user)]
        if any(data.endswith(":i:preservation_request=done") for data in buttons):
            return
        assert not any(data.endswith("=draft") for data in buttons), "only where a draft is"
        await victim.raw_press(next(data for data in buttons if data.endswith("=done")))
    raise AssertionError("the preservation request never came")


@pytest.mark.parametrize(
    ("locale", "source", "wording"),
    [("en", "hotel", "front desk"), ("zh-CN", "platform", "贵平台或其客服聊天")],
)
async def test_the_request_is_drafted_for_where_it_leaked_and_the_item_stays_open(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str, source: str, wording: str
) -> None:
    core, _ = haven
    await reach_the_request(victim, locale, source)
    (how, letter) = await victim.press("preservation_request=draft")  # the letter alone
    where = text_of(core, locale, f"item.preservation_request.draft_where.{source}")
    whole = text_of(core, locale, "item.preservation_request.draft", where=where)
    assert f"{how.text}\n\n{letter.text}" == whole
    assert letter.text.startswith("————") and letter.text.endswith("————")
    assert wording in letter.text
    (done, *_) = await victim.press("preservation_request=done")  # then the next item
    assert done.text.startswith(text_of(core, locale, "ui.item_done_ack"))


def test_a_draft_by_an_unknown_question_stops_start_up(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(CONTENT_DIR, content)
    structure = content / "playbook.toml"
    text = structure.read_text(encoding="utf-8")
    structure.write_text(text.replace('draft_by = "source"', 'draft_by = "sauce"'), "utf-8")
    with pytest.raises(ContentError, match="preservation_request drafts by unknown question"):
        load_playbook(content)


async def test_messages_to_family_employer_and_school_are_offered(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, _ = haven
    await triage(victim)
    await finish_step(victim, 1)
    await victim.press("path=complaint")
    await finish_step(victim, 2)
    await victim.press("support_pause=done")
    (how, *letters) = await victim.press("tell_others=draft")
    whole = "\n\n".join(m.text for m in (how, *letters))
    assert whole == text_of(core, "en", "item.tell_others.draft")
    # Each letter is a message of its own, so it can be copied whole.
    assert [m.text.split("\n")[0] for m in letters] == [
        "To family:",
        "To an employer:",
        "To a school:",
    ]
