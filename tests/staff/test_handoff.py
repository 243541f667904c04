"""A person on the other end, through the real core: take a case, the victim's words reach
the staff member masked, their answers reach the victim, either side ends it and the flow
resumes; an unanswered message tells the victim and alerts the team again (ManualClock, no
sleeps); two takes at once leave one holder; a triage of five reasons makes one alert.

ManualClock from Monday 5 January 2026, 09:00 in Shanghai (01:00 UTC).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import ConfigError, Handoff
from bot.events import ForwardOrigin, InboundKind, OriginKind, Outbound
from bot.privacy.word_digest import STAFF_WORDS_LABEL, custody_reason
from bot.staff.talk import END_TALK
from storage import case_keys, cases, custody, schema, talks
from tests.conftest import make_config
from tests.conversation.test_console_signals import uncertain_self_harm
from tests.conversation.test_crisis_signals import crisis_with_an_unsure_signal
from tests.conversation.test_journey import finish_step, text_of, triage
from tests.staff_rig import FIRST, SECOND, Rig, buttons_of, open_rig

MINUTES = timedelta(minutes=1)
PHONE = "13812345678"


@pytest.fixture
async def rig(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path / "data", clock, extra=NAMES)
    yield opened
    await opened.haven.close()


# Alice chose the name victims see; Bob has none (victims see the default words).
NAMES = """
[handoff]
answer_minutes = 15
"""


async def taken_by(rig: Rig, user: str = "alice") -> list[Outbound]:
    await triage(rig.victim, extortion="yes")
    await rig.command(user, "name", "Li")
    return await rig.press(user, buttons_of(rig.channel(FIRST)[0])["take"])


def texts(messages: list[Outbound]) -> list[str]:
    return [m.text for m in messages]


async def test_take_relays_masked_words_and_replies_then_release_resumes_the_flow(
    rig: Rig,
) -> None:
    replies = await taken_by(rig)
    assert replies[-1].text == rig.t("talk.taken", case_id=1, who="Alice", name="Li")
    started = rig.adapter.sent["alice"][-1].text
    assert started == rig.t("talk.dm_started", case_id=1, locale="English", name="Li")
    told = rig.adapter.last("v1")
    assert told.text == rig.t("talk.victim_started", name="Li")
    assert [b.data for row in told.buttons for b in row] == [END_TALK]

    said = await rig.victim.text(f"Please can someone call me? I am scared. {PHONE}")
    assert said == [], "the flow keeps quiet while a person holds the conversation"
    relayed = rig.adapter.sent["alice"][-1].text
    assert relayed == rig.t(
        "talk.relayed", case_id=1, text="Please can someone call me? I am scared. 138****5678"
    )

    await rig.dm("alice", "I'm here. I can call you at 3pm, is that all right?")
    answer = rig.adapter.last("v1")
    assert answer.text == rig.t(
        "talk.from_staff", name="Li", text="I'm here. I can call you at 3pm, is that all right?"
    )
    assert "alice" not in answer.text.casefold(), "never the platform handle"

    sent = await rig.command("alice", "reply", "1 And you can end this any time.")
    assert sent[-1].text == rig.t("talk.sent", case_id=1)
    assert rig.adapter.last("v1").text.endswith("And you can end this any time.")

    before = len(rig.adapter.sent["v1"])
    ended = await rig.command("alice", "release", "1")
    why = rig.t("talk.why_released", who="Alice")
    assert ended[-1].text == rig.t("talk.ended", case_id=1, why=why)
    back = texts(rig.adapter.sent["v1"][before:])
    assert back[0].startswith(rig.t("talk.victim_ended_by_staff", name="Li"))
    assert rig.adapter.last_buttons("v1")[0].data != END_TALK, "the checklist is back"
    flow_again = await rig.victim.text("what now?")
    assert flow_again and rig.adapter.sent["alice"][-1].text.startswith("🔚")


async def test_the_conversation_is_kept_sealed_and_readable_by_the_next_staff_member(
    rig: Rig,
) -> None:
    await taken_by(rig)
    await rig.victim.text(f"my number is {PHONE}")
    await rig.dm("alice", "Thank you, I have it.")
    log = (await rig.command("bob", "case", "1 --talk"))[-1].text.splitlines()
    assert log[0] == rig.t("talk.log_header", case_id=1, total=2, masking=rig.t("talk.log_masked"))
    assert log[1] == "• 2026-01-05 09:00 " + rig.t("talk.the_person") + ": my number is 138****5678"
    assert log[2] == "• 2026-01-05 09:00 Alice: Thank you, I have it."
    async with rig.haven.db.transaction() as conn:
        sealed = (await conn.execute(select(schema.talk_messages.c.sealed))).scalars().all()
    assert all(PHONE.encode() not in bytes(s) and b"Thank you" not in bytes(s) for s in sealed)


async def test_an_approved_retrieval_unmasks_the_relay_for_its_requester(rig: Rig) -> None:
    await taken_by(rig)
    await rig.command("alice", "retrieve", "1 --from 2026-01-05 --to 2026-01-06 --reason police")
    await rig.command("bob", "approve", "1")
    await rig.victim.text(f"call {PHONE}")
    assert rig.adapter.sent["alice"][-1].text.endswith(f"call {PHONE}")
    assert PHONE in (await rig.command("alice", "case", "1 --talk"))[-1].text
    assert PHONE not in (await rig.command("bob", "case", "1 --talk"))[-1].text


async def test_the_victim_ends_it_with_the_button_and_the_flow_resumes(rig: Rig) -> None:
    await taken_by(rig)
    replies = await rig.victim.raw_press(END_TALK)
    assert replies[0].text.startswith(rig.t("talk.victim_ended_by_you", name="Li"))
    assert any(m.buttons for m in replies), "the current checklist item is shown again"
    assert rig.adapter.sent["alice"][-1].text == rig.t(
        "talk.ended", case_id=1, why=rig.t("talk.why_victim")
    )
    again = await rig.victim.raw_press(END_TALK)
    assert again[0].text == rig.t("talk.victim_already_ended")
    assert (await rig.dm("alice", "hello?"))[-1].text == rig.t("talk.no_talks")


async def test_an_unanswered_message_tells_the_victim_and_alerts_the_team_again(
    rig: Rig,
) -> None:
    await taken_by(rig)
    await rig.tick(30 * MINUTES)  # nobody waits for an answer yet: nothing happens
    alerts_before = len([m for m in rig.channel(FIRST) if m.buttons and not m.edit_of])
    await rig.victim.text("are you there?")
    await rig.tick(14 * MINUTES)
    assert not any("not heard back" in t for t in rig.victim.transcript().splitlines())
    await rig.tick(1 * MINUTES)
    told = rig.adapter.last("v1").text
    assert told.startswith(rig.t("talk.victim_unanswered", name="Li", contacts="").rstrip())
    assert "000-TEST" in told, "whom to call meanwhile"
    fresh = [m for m in rig.channel(FIRST) if m.buttons and not m.edit_of]
    assert len(fresh) == alerts_before + 1
    assert rig.t("staff_reason.talk_unanswered") in fresh[-1].text
    assert rig.adapter.sent["alice"][-1].text == rig.t(
        "talk.unanswered", case_id=1, span=rig.t("ui.duration_m", n=15), who="Alice"
    )
    # Bob takes the conversation over from the re-alert; Alice no longer holds it.
    taken = await rig.press("bob", buttons_of(fresh[-1])["take"])
    assert taken[-1].text.startswith("👤 Case #1 is now Bob's")
    await rig.dm("bob", "I'm Bob's stand-in, I'm here now.")
    assert rig.adapter.last("v1").text.endswith("I'm here now.")
    assert (await rig.dm("alice", "sorry!"))[-1].text == rig.t("talk.no_talks")
    await rig.tick(60 * MINUTES)
    assert rig.victim.transcript().count("not heard back") == 1, "answered: nothing more"


async def test_an_unanswered_message_outside_staffed_hours_says_when_people_are_back(
    tmp_path: Path, clock: ManualClock
) -> None:
    hours = """
[handoff]
staffed_from = "10:00"
staffed_until = "18:00"
staffed_days = ["mon", "tue", "wed", "thu", "fri"]
"""
    rig = await open_rig(tmp_path / "data", clock, extra=hours)
    try:
        await taken_by(rig)
        await rig.victim.text("hello?")
        await rig.tick(15 * MINUTES)  # 09:15 on a Monday: before the team starts
        told = rig.adapter.last("v1").text
        shown = rig.t(
            "talk.hours",
            days="Mon, Tue, Wed, Thu, Fri",
            start="10:00",
            end="18:00",
            zone="Asia/Shanghai",
        )
        assert shown in told and "000-TEST" in told
    finally:
        await rig.haven.close()


async def test_the_answer_timer_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    rig = await open_rig(tmp_path / "data", clock, extra=NAMES)
    await taken_by(rig)
    await rig.victim.text("hello?")
    await rig.haven.close()
    clock.advance(20 * MINUTES)
    later = await open_rig(tmp_path / "data", clock, extra=NAMES)
    try:
        assert "Li" in later.adapter.last("v1").text and "000-TEST" in later.adapter.last("v1").text
    finally:
        await later.haven.close()


async def test_two_takes_at_once_leave_one_holder(rig: Rig) -> None:
    await triage(rig.victim, extortion="yes")
    take = buttons_of(rig.channel(FIRST)[0])["take"]
    before = len(rig.channel(FIRST))
    await asyncio.gather(rig.press("alice", take), rig.press("bob", take))
    said = rig.texts(FIRST)[before:]
    won = [t for t in said if t.startswith("👤 Case #1 is now")]
    lost = [t for t in said if t.startswith("Case #1 is already being talked with by")]
    assert len(won) == 1 and len(lost) == 1
    winner = "Alice" if "Alice" in won[0] else "Bob"
    assert winner in lost[0]
    async with rig.haven.db.transaction() as conn:
        rows = (await conn.execute(select(schema.talks.c.staff))).scalars().all()
    assert len(rows) == 1
    assert (
        rig.victim.transcript().count(rig.t("talk.victim_started", name=rig.t("talk.default_name")))
        + rig.victim.transcript().count(rig.t("talk.victim_started", name="Li"))
        == 1
    )


async def test_five_reasons_in_one_triage_make_one_alert_and_one_notice(rig: Rig) -> None:
    victim = rig.victim
    await victim.command("start")
    for key in ("lang:en", "ok:", "safety=yes", "extortion=yes", "sk:extortion_amount"):
        await victim.press(key)
    for key in ("minor=yes", "spread=public", "leaked=intimate", "leaked=id_bank", "md:leaked"):
        await victim.press(key)
    alerts = [m for m in rig.channel(FIRST) if m.buttons and not m.edit_of]
    assert len(alerts) == 1, [m.text for m in rig.channel(FIRST)]
    edits = [m for m in rig.channel(FIRST) if m.edit_of]
    latest = edits[-1].text if edits else alerts[0].text
    for reason in ("safety_threat", "extortion", "minor", "public_spread", "intimate_images"):
        assert rig.t(f"staff_reason.{reason}") in latest, reason
    assert victim.transcript().count(rig.t("ui.escalated")) == 1
    assert rig.channel(SECOND) == []


async def test_resolve_tells_the_victim_the_staff_closed_it_and_ends_the_talk(rig: Rig) -> None:
    await taken_by(rig)
    await rig.command("bob", "resolve", "1")
    assert rig.adapter.last("v1").text == rig.t("talk.victim_resolved")
    assert rig.t("ui.staff_on_it") not in rig.adapter.last("v1").text
    await rig.victim.text("thanks")
    assert not rig.adapter.sent["alice"][-1].text.startswith("🗣"), "no longer relayed"


async def test_a_case_the_victim_closes_while_its_alert_waits_says_so_and_stays_listed(
    rig: Rig,
) -> None:
    await triage(rig.victim, extortion="yes")
    await finish_step(rig.victim, 1)
    await rig.victim.press("path=police")
    await finish_step(rig.victim, 2)
    await finish_step(rig.victim, 3)
    edited = [m for m in rig.channel(FIRST) if m.edit_of][-1]
    assert edited.text.endswith(rig.t("staff.alert_victim_closed", at="2026-01-05 09:00"))
    assert buttons_of(edited)["ack"], "still waiting for somebody"
    listing = (await rig.command("bob", "cases"))[-1].text
    assert "#1" in listing and rig.t("talk.closed_by_person") in listing
    told = rig.victim.transcript()
    await rig.press("bob", buttons_of(edited)["ack"])
    assert "#1" not in (await rig.command("bob", "cases"))[-1].text
    assert rig.victim.transcript() == told, "a closed case's victim is not told someone is on it"


async def test_a_request_for_a_person_leads_to_talk_to_the_person(rig: Rig) -> None:
    await triage(rig.victim)  # nothing serious: no alert of its own
    assert rig.channel(FIRST) == []
    async with rig.haven.db.transaction() as conn:
        case = await cases.get(conn, 1)
        assert case is not None
        raised = await rig.haven.staff.talks.request_person(conn, case, rig.clock.now())
    await rig.haven.sender.drain()
    assert raised.tell_victim and raised.next_at is not None
    (alert,) = rig.channel(FIRST)
    assert rig.t("staff_reason.asked_for_person") in alert.text
    talk = next(b for row in alert.buttons for b in row if b.data.startswith("s:take:"))
    assert talk.label == rig.t("staff.btn_talk")
    await rig.press("alice", talk)
    name = rig.t("talk.default_name")
    assert rig.adapter.last("v1").text == rig.t("talk.victim_started", name=name)


async def test_evidence_in_a_conversation_gets_its_receipt_and_the_holder_hears_of_it(
    rig: Rig,
) -> None:
    await taken_by(rig)
    replies = await rig.victim._send(
        InboundKind.FORWARD,
        text="pay 5000 or I post it",
        forward_origin=ForwardOrigin(OriginKind.USER, sender_name="Zhang San"),
    )
    assert any("#1" in m.text for m in replies), "the receipt, as ever"
    assert rig.adapter.sent["alice"][-1].text == rig.t("talk.relayed_evidence", case_id=1)
    assert "5000" not in "\n".join(m.text for m in rig.adapter.sent["alice"])


async def test_custody_has_each_handoff_release_and_staff_message_in_words(rig: Rig) -> None:
    await taken_by(rig)
    await rig.dm("alice", "hello")
    await rig.command("alice", "release", "1")
    async with rig.haven.db.transaction() as conn:
        events = [r.event for r in await custody.for_case(conn, 1)]
        key = await case_keys.data_key(conn, rig.haven.keyring, 1)
    assert [e.action for e in events[-3:]] == ["talk_started", "staff_message", "talk_ended"]
    assert events[-2].reason == custody_reason(key, STAFF_WORDS_LABEL, "hello")
    log = (await rig.command("bob", "custody", "1"))[-1].text
    for action in ("talk_started", "staff_message", "talk_ended"):
        assert rig.t(f"custody.{action}") in log
    assert "talk_started" not in log and "hmac-sha256:" in log and "T01:00" not in log
    assert "• 2026-01-05 09:00 · Alice · " + rig.t("custody.talk_started") in log


async def test_while_in_a_conversation_reminders_wait_and_danger_is_still_read(
    rig: Rig,
) -> None:
    await taken_by(rig)
    before = len(rig.adapter.sent["v1"])
    await rig.tick(8 * 60 * MINUTES)
    reminders = [
        t for t in texts(rig.adapter.sent["v1"][before:]) if t.startswith("⏰") or "🔔" in t
    ]
    assert reminders == [], "no checklist reminders while a person holds the conversation"
    said = await rig.victim.text("I want to kill myself")
    assert said and "000-TEST" in said[0].text, "a cry for help is answered at once"
    assert rig.adapter.sent["alice"][-1].text.startswith("🗣")
    await rig.command("alice", "release", "1")
    await rig.tick(1 * MINUTES)
    assert len(rig.adapter.sent["v1"]) > before


async def test_in_a_conversation_haven_leaves_the_direct_question_to_the_person(
    rig: Rig,
) -> None:
    """Words Haven is unsure of reach the holder with a note; Haven itself asks nothing."""
    await taken_by(rig)
    said = await rig.victim.text(uncertain_self_harm("en"))
    assert said == [], "no question from Haven in the middle of a person's conversation"
    relayed = rig.adapter.sent["alice"][-1].text
    assert relayed.startswith("🗣") and relayed.endswith(rig.t("talk.unsure_self_harm"))
    async with rig.haven.db.transaction() as conn:
        case = await cases.get(conn, 1)
    assert case is not None and case.asking == "" and "signal_self_harm" not in case.reasons
    await rig.victim.text("I saved all the screenshots in one folder")
    assert rig.t("talk.unsure_self_harm") not in rig.adapter.sent["alice"][-1].text


async def test_in_a_conversation_a_crisis_is_answered_and_what_else_it_may_be_is_noted(
    rig: Rig,
) -> None:
    await taken_by(rig)
    said = await rig.victim.text(crisis_with_an_unsure_signal(rig.haven, "en"))
    assert said[0].text.startswith(text_of(rig.haven, "en", "signal.extortion.reply"))
    relayed = rig.adapter.sent["alice"][-1].text
    assert relayed.startswith("🗣") and relayed.endswith(rig.t("talk.unsure_self_harm"))


async def test_while_in_a_conversation_the_timer_is_not_armed_for_the_case_s_reminders(
    rig: Rig,
) -> None:
    """A held reminder would only wake the timer for a pass that fires nothing."""
    await taken_by(rig)
    pending = select(schema.reminders.c.fire_at).where(schema.reminders.c.state == "pending")
    async with rig.haven.db.transaction() as conn:
        held = (await conn.execute(pending)).scalars().all()
    assert held, "the case has checklist reminders waiting"
    await rig.haven.scheduler.rearm()
    wake = rig.haven.scheduler.next_wake
    assert wake not in held, (wake, sorted(held))


def test_staffed_hours_cross_midnight_and_skip_days_off(tmp_path: Path) -> None:
    night = Handoff(staffed_from="22:00", staffed_until="06:00", staffed_days=["sat", "sun"])
    assert night.staffed_at(datetime(2026, 1, 10, 23, 0))  # a Saturday night
    assert night.staffed_at(datetime(2026, 1, 11, 5, 59))
    assert not night.staffed_at(datetime(2026, 1, 11, 6, 0))
    assert not night.staffed_at(datetime(2026, 1, 12, 23, 0))  # a Monday
    assert Handoff().staffed_at(datetime(2026, 1, 12, 3, 0)), "by default always"
    with pytest.raises(ConfigError, match=r"handoff\.staffed_days"):
        make_config(tmp_path / "bad", '\n[handoff]\nstaffed_days = ["funday"]\n')


async def test_a_second_conversation_on_a_case_gives_way_in_the_database(rig: Rig) -> None:
    """What keeps two processes (PostgreSQL) from both holding a case: the insert itself."""
    await triage(rig.victim)
    now = rig.clock.now()
    async with rig.haven.db.transaction() as conn:
        first = await talks.start(conn, 1, staff="console:alice", display_name="", now=now)
        second = await talks.start(conn, 1, staff="console:bob", display_name="", now=now)
    assert first is not None and first.staff == "console:alice" and second is None
