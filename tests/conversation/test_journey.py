"""A victim's whole journey through the real core, storage and flow content."""

from __future__ import annotations

from adapters.memory import MemoryAdapter
from bot.runtime import Haven
from tests.conftest import Victim


def text_of(haven: Haven, locale: str, key: str, **fields: object) -> str:
    return haven.playbook.texts.get(locale, key, **fields)


async def triage(
    victim: Victim, *, extortion: str = "no", spread: str = "private_chats", lang: str = "en"
) -> None:
    await victim.command("start")
    await victim.press(f"lang:{lang}")
    await victim.press("ok:")
    await victim.press("safety=no")
    await victim.press(f"extortion={extortion}")
    if extortion == "yes":
        await victim.press("sk:extortion_amount")
    await victim.press("minor=no")
    await victim.press(f"spread={spread}")
    await victim.press("leaked=chats")
    await victim.press("md:leaked")
    await victim.press("source=hotel")


async def finish_step(victim: Victim, case_step: int) -> None:
    haven = victim.haven
    for _ in range(20):
        async with haven.db.transaction() as conn:
            from storage import cases

            case = await cases.find_open(conn, victim.adapter.platform, victim.user)
        if case is None or case.step != case_step:
            return
        buttons = victim.prompt_buttons()
        done = next(b for b in buttons if b.data.endswith("=done"))
        await victim.raw_press(done.data)
    raise AssertionError("step did not finish")


async def test_full_journey_in_english_reaches_closure(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    assert text_of(haven, "en", "item.forward_evidence.title") in victim.transcript()
    await finish_step(victim, 1)
    await victim.press("path=complaint")
    assert text_of(haven, "en", "item.complaint_written.title") in victim.transcript()
    await finish_step(victim, 2)
    await finish_step(victim, 3)
    closing = text_of(haven, "en", "ui.case_closed", retention_days=180)
    assert victim.adapter.last(victim.user).text.endswith(closing)
    async with haven.db.transaction() as conn:
        from storage import cases

        assert await cases.find_open(conn, victim.adapter.platform, victim.user) is None


async def test_journey_in_chinese_uses_chinese_texts(victim: Victim) -> None:
    haven = victim.haven
    await victim.command("start")
    await victim.press("lang:zh-CN")
    assert text_of(haven, "zh-CN", "ui.btn_privacy_ok") in [
        b.label for b in victim.adapter.last_buttons(victim.user)
    ]
    await victim.press("ok:")
    prompt = text_of(haven, "zh-CN", "question.safety.prompt")
    assert prompt in victim.adapter.last(victim.user).text


async def test_extortion_answer_escalates_once_and_tells_the_victim(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await triage(victim, extortion="yes")
    staff = adapter.sent["staff"]
    assert len(staff) == 1
    staff_locale = core.config.default_locale
    assert text_of(core, staff_locale, "staff_reason.extortion") in staff[0].text
    assert text_of(core, "en", "ui.escalated") in victim.transcript()
    assert text_of(core, "en", "notice.extortion_advice") in victim.transcript()
    await victim.command("status")
    assert text_of(core, "en", "severity.critical") in victim.adapter.last(victim.user).text
    assert len(adapter.sent["staff"]) == 1


async def test_item_why_skip_and_status(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    first = victim.adapter.last_buttons(victim.user)[0].data.split(":")[2].split("=")[0]
    replies = await victim.press(f"{first}=why")
    assert replies[0].text == text_of(haven, "en", f"item.{first}.why")
    await victim.press(f"{first}=skip")
    status = (await victim.command("status"))[0].text
    assert "⏭" in status
    assert text_of(haven, "en", f"item.{first}.title") in status


async def test_public_spread_puts_takedown_first(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim, spread="public")
    # The item's prompt, cut to fit a phone's screen: its buttons come last.
    item_prompt = "\n".join(m.text for m in victim.adapter.sent[victim.user][-2:])
    assert text_of(haven, "en", "item.report_content.title") in item_prompt


async def test_change_an_answer_from_status_updates_severity(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await victim.command("status")
    await victim.press("chg:")
    await victim.press("chq:safety")
    await victim.press("safety=yes")
    assert text_of(haven, "en", "ui.answer_changed") in victim.transcript()
    status = (await victim.command("status"))[0].text
    assert text_of(haven, "en", "severity.critical") in status


async def test_lang_switches_mid_case_and_reprompts(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await victim.command("lang")
    replies = await victim.press("sw:zh-CN")
    assert replies[0].text.startswith(text_of(haven, "zh-CN", "ui.language_changed"))
    assert text_of(haven, "zh-CN", "item.forward_evidence.title") in replies[-1].text


async def test_stop_pauses_and_start_resumes(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await victim.command("stop")
    replies = await victim.press("forward_evidence=done")
    assert replies[0].text.startswith(text_of(haven, "en", "ui.paused"))
    replies = await victim.command("start")
    assert replies[0].text.startswith(text_of(haven, "en", "ui.resumed"))
    assert text_of(haven, "en", "item.forward_evidence.title") in replies[-1].text


async def test_self_harm_signal_answers_at_once_with_support_lines(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await triage(victim)
    replies = await victim.text("I don't want to live anymore, I want to kill myself")
    assert replies[0].text.startswith(text_of(core, "en", "signal.self_harm.reply"))
    assert "000-TEST" in replies[0].text
    assert adapter.sent["staff"], "self-harm must reach the staff channel"


async def test_chinese_self_harm_signal_in_an_english_case(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    replies = await victim.text("我真的不想活了")
    assert replies[0].text.startswith(text_of(haven, "en", "signal.self_harm.reply"))


async def test_the_breathing_item_shows_the_configured_support_lines(victim: Victim) -> None:
    haven = victim.haven
    await triage(victim)
    await finish_step(victim, 1)
    await victim.press("path=complaint")
    await finish_step(victim, 2)
    shown = victim.adapter.last(victim.user).text
    assert text_of(haven, "en", "item.support_pause.title") in shown
    assert f"{text_of(haven, 'en', 'ui.support_header')}\n• Test support line" in shown
