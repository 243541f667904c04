"""What people type instead of tapping: a button's words, /lang with a language, and an
answer that does not answer (a bare number for "what are they asking for")."""

from __future__ import annotations

from storage import cases
from tests.conftest import Victim
from tests.conversation.test_journey import text_of, triage


async def answers_of(victim: Victim) -> dict[str, tuple[str, ...]]:
    async with victim.haven.db.transaction() as conn:
        case = await cases.find_open(conn, victim.adapter.platform, victim.user)
    assert case is not None
    return dict(case.answers)


async def test_typing_a_buttons_words_is_the_same_as_tapping_it(victim: Victim) -> None:
    haven = victim.haven
    await victim.command("start")
    (privacy, *_) = await victim.text("English")  # the language menu's button, typed
    assert text_of(haven, "en", "ui.btn_privacy_ok") in [
        b.label for m in [privacy, *_] for row in m.buttons for b in row
    ]
    await victim.text("OK, let's start")
    await victim.text("no")  # safety: "No"
    assert (await answers_of(victim))["safety"] == ("no",)
    await victim.press("extortion=no")
    await victim.press("minor=no")
    await victim.press("spread=private_chats")
    await victim.press("leaked=chats")
    await victim.press("md:leaked")
    await victim.press("source=hotel")
    done = await victim.text("done")  # the item's "Done"
    assert done[0].text.startswith(text_of(haven, "en", "ui.item_done_ack"))
    skipped = await victim.text("Skip for now!")
    assert skipped[0].text.startswith(text_of(haven, "en", "ui.item_skipped_ack"))


async def test_typed_button_words_work_in_chinese(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim, lang="zh-CN")
    done = await victim.text("做好了")
    assert done[0].text.startswith(text_of(haven, "zh-CN", "ui.item_done_ack"))


async def test_lang_takes_its_argument(victim: Victim) -> None:
    haven = victim.haven
    await victim.command("start")
    (privacy,) = await victim.command("lang", "en")
    assert privacy.text.startswith(text_of(haven, "en", "ui.welcome"))
    await victim.press("ok:")
    (switched, *_) = await victim.command("lang", "中文")
    assert switched.text.startswith(text_of(haven, "zh-CN", "ui.language_changed"))
    (back, *_) = await victim.command("lang", "English")
    assert back.text.startswith(text_of(haven, "en", "ui.language_changed"))
    (menu,) = await victim.command("lang", "klingon")
    assert {b.data.rsplit(":", 1)[-1] for row in menu.buttons for b in row} == {"en", "zh-CN"}


async def test_a_bare_number_is_not_taken_for_what_they_ask(victim: Victim) -> None:
    haven = victim.haven
    await victim.command("start")
    await victim.press("lang:en")
    await victim.press("ok:")
    await victim.press("safety=no")
    await victim.press("extortion=yes")
    (again,) = await victim.text("2")
    assert again.text.startswith(text_of(haven, "en", "question.extortion_amount.needs_words"))
    assert text_of(haven, "en", "question.extortion_amount.prompt") in again.text
    assert "extortion_amount" not in await answers_of(victim)
    await victim.text("5000元")
    assert (await answers_of(victim))["extortion_amount"] == ("5000元",)
