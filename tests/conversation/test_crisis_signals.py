"""Danger signals in what a victim writes, end to end through the real core and the model.

Three zones per signal: clear (the crisis reply at once and a staff alert), uncertain (a
direct, kind question with Yes / No / I'd rather not say, and a lower-priority alert if
nobody answers) and ordinary (the flow goes on, with a person on offer). Messages for the
classifier's zones are picked from the corpus by asking the shipped model, so the tests
follow a retrained model instead of pinning one set of scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import load_config
from bot.content.playbook import load_playbook
from bot.conversation.signal_corpus import load_split
from bot.conversation.signal_model import Zone, default_model
from bot.events import Outbound
from bot.runtime import Haven
from storage import cases
from storage.schema import reminders, signal_checks
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import text_of, triage

LANGUAGES = {"en": "en", "zh-CN": "zh"}


def corpus_messages(signal_id: str, locale: str) -> Iterator[str]:
    """The corpus messages in `locale` of `signal_id` alone (never the test split)."""
    for split in ("validation", "train"):
        for example in load_split(split):
            if example.language == LANGUAGES[locale] and example.labels == {signal_id}:
                yield example.text


def messages_in_zone(haven: Haven, signal_id: str, zone: Zone, locale: str) -> Iterator[str]:
    """The corpus messages of `signal_id` in `locale` that the model alone puts in `zone`
    and that touch no other signal (no phrase of the curated list catches them either)."""
    model = default_model()
    for text in corpus_messages(signal_id, locale):
        if haven.flow.detector.detect(text):
            continue
        zones = model.zones(text)
        others = [z for name, z in zones.items() if name != signal_id]
        if zones[signal_id] is zone and all(z is Zone.ORDINARY for z in others):
            yield text


def message_in_zone(haven: Haven, signal_id: str, zone: Zone, locale: str) -> str:
    for text in messages_in_zone(haven, signal_id, zone, locale):
        return text
    raise AssertionError(f"the model puts no {locale} {signal_id} message in the {zone} zone")


async def at_first_question(victim: Victim, locale: str) -> None:
    await victim.command("start")
    await victim.press(f"lang:{locale}")
    await victim.press("ok:")


async def open_case(victim: Victim) -> cases.CaseRecord:
    async with victim.haven.db.transaction() as conn:
        found = await cases.find_open(conn, victim.adapter.platform, victim.user)
    assert found is not None
    return found


async def check_rows(haven: Haven) -> list[str]:
    async with haven.db.transaction() as conn:
        found = await conn.execute(select(signal_checks.c.state).order_by(signal_checks.c.id))
        return list(found.scalars())


def staff(adapter: MemoryAdapter) -> list[Outbound]:
    return adapter.sent["staff"]


def said(victim: Victim, locale: str, key: str) -> str:
    return text_of(victim.haven, locale, key)


# ---- the three zones -----------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_a_clear_signal_from_the_classifier_gets_the_crisis_reply_and_an_alert(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str
) -> None:
    core, adapter = haven
    await at_first_question(victim, locale)
    message = message_in_zone(core, "self_harm", Zone.CLEAR, locale)
    (reply,) = await victim.text(message)
    assert reply.text.startswith(said(victim, locale, "signal.self_harm.reply"))
    assert "000-TEST" in reply.text  # the configured support line
    assert said(victim, locale, "ui.escalated") in reply.text
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "reason.signal_self_harm") in alert.text
    assert "signal_self_harm" in (await open_case(victim)).reasons


@pytest.mark.parametrize(
    ("locale", "message"),
    [
        ("en", "I want to kill myself. He wants 500 or he posts the video"),
        ("zh-CN", "我不想活了，他说不给两万不然就公开视频"),
    ],
)
async def test_two_signals_in_one_message_get_both_replies_and_the_numbers_once(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str, message: str
) -> None:
    await at_first_question(victim, locale)
    replies = await victim.text(message)
    assert replies[0].text.startswith(said(victim, locale, "signal.self_harm.reply"))
    everything = "\n".join(reply.text for reply in replies)
    assert said(victim, locale, "signal.extortion.reply") in everything
    assert everything.count("000-TEST") == 1 and everything.count("Police") == 1
    assert {"signal_self_harm", "signal_extortion"} <= set((await open_case(victim)).reasons)


DEMAND_PHRASE = {"en": "He is blackmailing me.", "zh-CN": "他在勒索我。"}


def crisis_with_an_unsure_signal(haven: Haven, locale: str) -> str:
    """A demand said with one of its phrases, then a corpus message that leaves the whole
    uncertain for self-harm (found by asking the shipped detector)."""
    for words in corpus_messages("self_harm", locale):
        text = f"{DEMAND_PHRASE[locale]} {words}"
        reading = haven.flow.detector.read(text)
        clear, unsure = [s.id for s in reading.clear], [s.id for s in reading.uncertain]
        if clear == ["extortion"] and unsure == ["self_harm"]:
            return text
    raise AssertionError(f"no {locale} demand with a self-harm the detector is unsure of")


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_beside_a_crisis_reply_haven_asks_nothing_more_and_tells_the_staff(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str
) -> None:
    core, adapter = haven
    await at_first_question(victim, locale)
    replies = await victim.text(crisis_with_an_unsure_signal(core, locale))
    assert replies[0].text.startswith(said(victim, locale, "signal.extortion.reply"))
    asked = said(victim, locale, "signal.self_harm.ask")
    assert not [reply for reply in replies if asked in reply.text]
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "reason.signal_extortion") in alert.text
    assert text_of(core, "zh-CN", "reason.unsure_self_harm") in alert.text
    case = await open_case(victim)
    assert case.asking == "" and "signal_self_harm" not in case.reasons


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_an_uncertain_signal_is_asked_about_directly_and_nobody_is_alerted_yet(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str
) -> None:
    core, adapter = haven
    await at_first_question(victim, locale)
    (question,) = await victim.text(message_in_zone(core, "self_harm", Zone.UNCERTAIN, locale))
    assert question.text == said(victim, locale, "signal.self_harm.ask")
    labels = [b.label for row in question.buttons for b in row]
    assert labels == [said(victim, locale, f"ui.btn_check_{a}") for a in ("yes", "no", "skip")]
    assert staff(adapter) == []
    assert (await open_case(victim)).asking == "self_harm"
    assert await check_rows(core) == ["waiting"]


@pytest.mark.parametrize(("locale", "idiom"), [("zh-CN", "笑死，累死了"), ("en", "I'm dead tired")])
async def test_an_ordinary_idiom_lets_the_flow_go_on_with_a_person_on_offer(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str, idiom: str
) -> None:
    _, adapter = haven
    await at_first_question(victim, locale)
    ack, question = await victim.text(idiom)
    assert ack.text == said(victim, locale, "ui.free_text_ack")
    assert [b.label for row in ack.buttons for b in row] == [said(victim, locale, "ui.btn_person")]
    assert question.text == said(victim, locale, "question.safety.prompt")
    assert staff(adapter) == []
    case = await open_case(victim)
    assert case.reasons == () and case.asking == ""


async def test_talk_to_a_person_alerts_the_staff_says_so_and_asks_the_question_again(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await at_first_question(victim, "en")
    ack, _ = await victim.text("what is this about")
    (told,) = await victim.raw_press(ack.buttons[0][0].data)
    # said, then the question again, in one message
    assert told.text.startswith(said(victim, "en", "ui.person_told"))
    assert told.text.endswith(said(victim, "en", "question.safety.prompt"))
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "staff_reason.asked_for_person") in alert.text
    # a request, not a finding: the case's severity and reasons are what they were
    case = await open_case(victim)
    assert case.severity == "normal" and case.reasons == ()


# ---- the direct question's answers -----------------------------------------------------------


async def asked(victim: Victim, locale: str = "en") -> None:
    await at_first_question(victim, locale)
    await victim.text(message_in_zone(victim.haven, "self_harm", Zone.UNCERTAIN, locale))


async def test_yes_gets_the_crisis_reply_and_an_alert(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await asked(victim)
    (reply,) = await victim.press("ck:self_harm=yes")
    assert reply.text.startswith(said(victim, "en", "signal.self_harm.reply"))
    assert "000-TEST" in reply.text
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "reason.signal_self_harm") in alert.text
    case = await open_case(victim)
    assert case.asking == "" and "signal_self_harm" in case.reasons
    assert await check_rows(core) == ["answered"]


async def test_no_thanks_them_and_goes_on_without_an_alert(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await asked(victim)
    (thanks,) = await victim.press("ck:self_harm=no")
    assert thanks.text.startswith(said(victim, "en", "signal.self_harm.no"))
    assert thanks.text.endswith(said(victim, "en", "question.safety.prompt"))
    assert staff(adapter) == []
    assert await check_rows(core) == ["answered"]
    assert (await open_case(victim)).reasons == ()


async def test_rather_not_say_is_respected_with_the_lines_and_a_lower_priority_alert(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await asked(victim)
    (reply,) = await victim.press("ck:self_harm=skip")
    assert reply.text.startswith(said(victim, "en", "signal.self_harm.skip"))
    assert "000-TEST" in reply.text
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "reason.declined_self_harm") in alert.text
    assert text_of(core, "zh-CN", "severity.normal") in alert.text
    assert (await open_case(victim)).reasons == ()


@pytest.mark.parametrize(
    ("typed", "key"), [("没有", "no"), ("No.", "no"), ("nope", "no"), ("是的", "reply")]
)
async def test_a_typed_answer_counts_as_the_button(victim: Victim, typed: str, key: str) -> None:
    await asked(victim)
    replies = await victim.text(typed)
    assert replies[0].text.startswith(said(victim, "en", f"signal.self_harm.{key}"))
    assert (await open_case(victim)).asking == ""


async def test_other_words_while_asked_repeat_the_question_with_a_person_on_offer(
    victim: Victim,
) -> None:
    await asked(victim)
    ack, question = await victim.text("hmm, why do you ask")
    assert ack.text == said(victim, "en", "ui.free_text_ack")
    assert question.text == said(victim, "en", "signal.self_harm.ask")


async def test_no_answer_alerts_the_staff_later_with_lower_priority_even_after_a_restart(
    clock: ManualClock, tmp_path: Path
) -> None:
    adapter = MemoryAdapter()
    haven_config = make_config(tmp_path / "data")
    first = await Haven.open(haven_config, {adapter.platform: adapter}, clock)
    victim = Victim(first, adapter)
    await asked(victim)
    assert first.scheduler.next_wake == clock.now() + timedelta(minutes=15)
    await first.close()  # Haven goes down before anyone answers

    clock.advance(timedelta(minutes=15))
    second = await Haven.open(haven_config, {adapter.platform: adapter}, clock)
    try:
        await second.scheduler.rearm()
        await second.sender.drain()
        (alert,) = staff(adapter)
        assert text_of(second, "zh-CN", "reason.unanswered_self_harm") in alert.text
        assert await check_rows(second) == ["alerted"]
        await second.scheduler.fire_due()  # once: never again
        await second.sender.drain()
        assert len(staff(adapter)) == 1
    finally:
        await second.close()


async def test_an_answer_before_the_time_means_no_alert(victim: Victim, clock: ManualClock) -> None:
    await asked(victim)
    await victim.press("ck:self_harm=no")
    clock.advance(timedelta(hours=1))
    await victim.haven.scheduler.fire_due()
    await victim.haven.sender.drain()
    assert staff(victim.adapter) == []


async def said_no(victim: Victim, locale: str) -> str:
    """Asked about words the model is unsure of, answered "no"; returns other such words
    about the same signal, to write next."""
    await at_first_question(victim, locale)
    first, again = list(messages_in_zone(victim.haven, "self_harm", Zone.UNCERTAIN, locale))[:2]
    await victim.text(first)
    await victim.press("ck:self_harm=no")
    return again


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_after_a_no_unsure_words_are_not_asked_about_again_and_the_staff_hear(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, locale: str
) -> None:
    core, adapter = haven
    replies = await victim.text(await said_no(victim, locale))
    assert [r.text for r in replies] == [
        said(victim, locale, "ui.free_text_ack"),
        said(victim, locale, "question.safety.prompt"),
    ]
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "reason.after_no_self_harm") in alert.text
    case = await open_case(victim)
    assert case.asking == "" and case.reasons == ()


async def test_the_no_is_kept_with_the_case_and_asked_again_a_day_later(
    victim: Victim, clock: ManualClock
) -> None:
    answered = clock.now()  # the clock stands still until the test moves it
    again = await said_no(victim, "en")
    assert (await open_case(victim)).said_no == {"self_harm": answered}
    clock.advance(timedelta(hours=23, minutes=59))
    assert said(victim, "en", "signal.self_harm.ask") not in [
        r.text for r in await victim.text(again)
    ]
    clock.advance(timedelta(minutes=1))
    (question,) = await victim.text(again)
    assert question.text == said(victim, "en", "signal.self_harm.ask")


async def test_after_a_no_clear_words_still_get_the_crisis_reply(victim: Victim) -> None:
    await asked(victim)
    await victim.press("ck:self_harm=no")
    clear = message_in_zone(victim.haven, "self_harm", Zone.CLEAR, "en")
    replies = await victim.text(clear)
    assert replies[0].text.startswith(said(victim, "en", "signal.self_harm.reply"))
    assert "signal_self_harm" in (await open_case(victim)).reasons


async def test_a_no_about_one_signal_leaves_the_others_asked(victim: Victim) -> None:
    await asked(victim)
    await victim.press("ck:self_harm=no")
    (question,) = await victim.text(message_in_zone(victim.haven, "threat", Zone.UNCERTAIN, "en"))
    assert question.text == said(victim, "en", "signal.threat.ask")


# ---- minors in free text ------------------------------------------------------------------


async def test_a_minor_at_step_one_switches_to_the_checklist_without_copies(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await triage(victim)
    before = await open_case(victim)
    assert "screen_record" in [e.item_id for e in before.checklist]
    replies = await victim.text("我还没成年，才15岁")
    assert replies[0].text.startswith(said(victim, "en", "signal.minor.reply"))
    (prompt,) = [reply for reply in replies if reply.buttons]
    assert said(victim, "en", "item.minor_no_copies.title") in prompt.text
    case = await open_case(victim)
    assert case.answers["minor"] == ("yes",) and "minor" in case.reasons
    items = {e.item_id for e in case.checklist if e.step == 1}
    assert {"minor_no_copies", "report_content_minor"} <= items
    assert not {"screen_record", "report_content"} & items
    (alert,) = staff(adapter)
    assert text_of(core, "zh-CN", "reason.minor") in alert.text


async def test_a_minor_at_the_minor_question_answers_it(victim: Victim) -> None:
    await at_first_question(victim, "en")
    await victim.press("safety=no")
    await victim.press("extortion=no")
    replies = await victim.text("I'm a minor, I'm only in middle school")
    (prompt,) = [reply for reply in replies if reply.buttons]
    assert prompt.text.endswith(said(victim, "en", "question.spread.prompt"))
    assert (await open_case(victim)).answers["minor"] == ("yes",)


# ---- support lines by jurisdiction ----------------------------------------------------------


def text_of_default(locale: str, key: str) -> str:
    return load_playbook().texts.get(locale, key)


async def crisis_reply(tmp_path: Path, clock: ManualClock, support: str) -> str:
    """The reply to a clear cry for help, under a config of its own `support` lines."""
    config_file = tmp_path / "haven.toml"
    config_file.write_text(
        support + '[[escalation.levels]]\nchannels = ["memory:staff"]\n', encoding="utf-8"
    )
    config = load_config(config_file, data_dir_override=tmp_path / "data", environ={})
    adapter = MemoryAdapter()
    core = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        victim = Victim(core, adapter)
        await at_first_question(victim, "en")
        (reply,) = await victim.text("I want to kill myself")
        return reply.text
    finally:
        await core.close()


async def test_support_lines_in_mainland_china(tmp_path: Path, clock: ManualClock) -> None:
    reply = await crisis_reply(
        tmp_path, clock, '[support]\nhotlines = [{ name = "Checked line", number = "000-TEST" }]\n'
    )
    assert "• 报警 / Police: 110" in reply and "• 急救 / Ambulance: 120" in reply
    assert "• Checked line: 000-TEST" in reply


async def test_support_lines_of_another_jurisdiction(tmp_path: Path, clock: ManualClock) -> None:
    reply = await crisis_reply(
        tmp_path,
        clock,
        'jurisdiction = "GB"\n'
        '[support]\nemergency_numbers = [{ name = "Emergency", number = "999" }]\n'
        'hotlines = [{ name = "Checked line", number = "000-GB-TEST" }]\n',
    )
    assert "• Emergency: 999" in reply and "000-GB-TEST" in reply
    assert "110" not in reply and "120" not in reply


async def test_without_support_lines_the_emergency_numbers_still_show(
    tmp_path: Path, clock: ManualClock
) -> None:
    reply = await crisis_reply(tmp_path, clock, "[support]\nhotlines = []\n")
    assert "• 报警 / Police: 110" in reply and "000-TEST" not in reply
    assert text_of_default("en", "ui.no_hotlines") in reply


# ---- quiet hours ----------------------------------------------------------------------------


async def test_a_self_harm_case_keeps_quiet_hours_for_its_tasks_while_the_staff_are_alerted(
    haven: tuple[Haven, MemoryAdapter], victim: Victim, clock: ManualClock
) -> None:
    night = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    morning = datetime(2026, 1, 6, 0, 0, tzinfo=UTC)  # 08:00, the end of quiet hours
    core, adapter = haven
    clock.set(night)
    await victim.command("start")
    await victim.text("我真的不想活了")
    assert len(staff(adapter)) == 1  # the alert goes out at once, at night
    await triage(victim)
    async with core.db.transaction() as conn:
        (row,) = (await conn.execute(select(reminders))).mappings().all()
    assert row["item_id"] == "forward_evidence"
    assert not row["urgent"] and row["fire_at"] == morning


async def test_a_pause_does_not_stop_the_direct_question_or_a_request_for_a_person(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await at_first_question(victim, "en")
    await victim.command("stop")
    (question,) = await victim.text(message_in_zone(core, "self_harm", Zone.UNCERTAIN, "en"))
    assert question.text == said(victim, "en", "signal.self_harm.ask")
    (answer,) = await victim.press("ck:self_harm=no")
    assert answer.text == f"{said(victim, 'en', 'signal.self_harm.no')}\n\n" + said(
        victim, "en", "ui.paused"
    )
    ack = await victim.text("hello?")
    assert ack[-1].text == said(victim, "en", "ui.paused")
    assert staff(adapter) == []
