"""Escalation through the real core: alert, re-escalation by level, repeats, acknowledgement
that stops the chain everywhere and edits every alert, and restarts in between.

ManualClock from Monday 5 January 2026, 09:00 in Shanghai (01:00 UTC); two levels of 30
minutes each, the last repeating every 15 minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.events import Button, ChatKind, ChatRef
from bot.staff.escalation import Escalator
from storage import cases, escalations
from storage.schema import outbox
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.staff_rig import FIRST, PLATFORM, SECOND, STAFF_CONFIG, Rig, buttons_of, open_rig

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

MINUTES = timedelta(minutes=1)


@pytest.fixture
async def rig(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path / "data", clock)
    yield opened
    await opened.haven.close()


async def raise_alert(rig: Rig) -> None:
    await triage(rig.victim, extortion="yes")


def alerts(rig: Rig, chat_id: str) -> list[str]:
    return [m.text for m in rig.channel(chat_id) if m.buttons and not m.edit_of]


async def test_an_extortion_answer_alerts_the_first_level_with_buttons(rig: Rig) -> None:
    await raise_alert(rig)
    (alert,) = rig.channel(FIRST)
    assert alert.text == rig.t(
        "staff.alert",
        case_id=1,
        severity=rig.t("severity.critical"),
        reasons=rig.t("staff_reason.extortion"),
        step=rig.t("staff.step_triage"),
        age=rig.t("staff.duration_s", n=1),  # never "0 s": opened just now
        locale="English",
        via=rig.t("platform.console"),
    )
    assert [b.label for row in alert.buttons for b in row] == [
        rig.t("staff.btn_ack"),
        rig.t("staff.btn_take"),
        rig.t("staff.btn_resolve"),
    ]
    assert rig.channel(SECOND) == []
    assert rig.t("ui.escalated") in rig.victim.transcript()


async def test_unacknowledged_alerts_escalate_then_the_last_level_repeats(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.tick(29 * MINUTES)
    assert rig.channel(SECOND) == [] and len(rig.channel(FIRST)) == 1
    await rig.tick(1 * MINUTES)
    (second,) = rig.channel(SECOND)
    assert second.text.startswith(
        rig.t("staff.alert_escalated", age=rig.t("ui.duration_m", n=30), level=2)
    )
    assert f" · {rig.t('staff.step_n', n=1)} · " in second.text, "where the case is now"
    notice = rig.t(
        "staff.escalated_notice", case_id=1, timeout=rig.t("ui.duration_m", n=30), level=2
    )
    assert rig.texts(FIRST)[-1] == notice
    await rig.tick(29 * MINUTES)
    assert len(rig.channel(SECOND)) == 1
    await rig.tick(1 * MINUTES)  # the last level's own 30 minutes
    repeat = rig.t("staff.alert_repeat", age=rig.t("ui.duration_m", n=60))
    assert rig.texts(SECOND)[-1].startswith(repeat)
    await rig.tick(15 * MINUTES)  # then every 15 minutes
    assert len(alerts(rig, SECOND)) == 3
    assert len(rig.channel(FIRST)) == 2, "the first level hears of the move once, not of repeats"
    async with rig.haven.db.transaction() as conn:
        row = await escalations.latest_of_case(conn, 1)
    assert row is not None and (row.level, row.rounds) == (1, 3), "alerted 3 times at level 2"


async def test_acknowledging_stops_the_chain_and_edits_every_alert(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.tick(30 * MINUTES)
    escalated = rig.channel(SECOND)[0]
    replies = await rig.press("bob", buttons_of(escalated)["ack"], SECOND)
    assert replies[-1].text == rig.t("staff.acknowledged", case_id=1, who="Bob")
    line = rig.t("staff.acknowledged_by", who="Bob", at="2026-01-05 09:30")
    edits = [m for chat in (FIRST, SECOND) for m in rig.channel(chat) if m.edit_of]
    assert len(edits) == 2 and all(m.text.endswith(line) for m in edits)
    assert all("ack" not in buttons_of(m) and "take" in buttons_of(m) for m in edits)
    assert rig.victim.transcript().endswith(rig.t("ui.staff_on_it"))
    counts = (len(rig.channel(FIRST)), len(rig.channel(SECOND)))
    await rig.tick(3 * 60 * MINUTES)
    assert (len(rig.channel(FIRST)), len(rig.channel(SECOND))) == counts


async def test_a_second_press_or_a_second_person_learns_who_won(rig: Rig) -> None:
    await raise_alert(rig)
    ack = buttons_of(rig.channel(FIRST)[0])["ack"]
    await rig.press("alice", ack)
    again = await rig.press("bob", ack)
    assert again[-1].text == rig.t(
        "staff.already_acknowledged", case_id=1, who="Alice", at="2026-01-05 09:00"
    )
    assert rig.victim.transcript().count(rig.t("ui.staff_on_it")) == 1


async def test_two_people_pressing_at_once_one_acknowledgement_wins(rig: Rig) -> None:
    await raise_alert(rig)
    ack = buttons_of(rig.channel(FIRST)[0])["ack"]
    before = len(rig.channel(FIRST))
    await asyncio.gather(rig.press("alice", ack), rig.press("bob", ack))
    said = rig.texts(FIRST)[before:]
    won = [t for t in said if t.startswith("✅ Case #1 acknowledged by")]
    lost = [t for t in said if t.startswith("Case #1 was already acknowledged by")]
    assert len(won) == 1 and len(lost) == 1
    winner = "Alice" if "Alice" in won[0] else "Bob"
    assert winner in lost[0]


async def test_buttons_of_a_resolved_case_say_so_and_change_nothing(rig: Rig) -> None:
    await raise_alert(rig)
    alert = rig.channel(FIRST)[0]
    await rig.command("alice", "resolve", "1")
    resolved_line = rig.t("staff.resolved_by", who="Alice", at="2026-01-05 09:00")
    (edit,) = [m for m in rig.channel(FIRST) if m.edit_of]
    assert edit.text.endswith(resolved_line) and not edit.buttons
    replies = await rig.press("bob", buttons_of(alert)["ack"])
    assert replies[-1].text == rig.t(
        "staff.already_resolved", case_id=1, who="Alice", at="2026-01-05 09:00"
    )
    replies = await rig.press("bob", buttons_of(alert)["take"])
    assert replies[-1].text == rig.t(
        "staff.already_resolved", case_id=1, who="Alice", at="2026-01-05 09:00"
    )
    await rig.tick(2 * 60 * MINUTES)
    assert rig.channel(SECOND) == []


async def test_take_case_assigns_and_acknowledges(rig: Rig) -> None:
    await raise_alert(rig)
    replies = await rig.press("alice", buttons_of(rig.channel(FIRST)[0])["take"])
    name = rig.t("talk.default_name")
    assert replies[-1].text == rig.t("talk.taken", case_id=1, who="Alice", name=name)
    case = (await rig.command("bob", "case", "1"))[-1].text
    assert rig.t("staff.assigned_to", who="Alice") in case
    assert rig.t("staff.escalation_acknowledged", who="Alice", at="2026-01-05 09:00") in case
    await rig.tick(2 * 60 * MINUTES)
    assert rig.channel(SECOND) == []


async def test_an_auditor_cannot_acknowledge_and_the_chain_goes_on(rig: Rig) -> None:
    await raise_alert(rig)
    replies = await rig.press("carol", buttons_of(rig.channel(FIRST)[0])["ack"])
    assert replies[-1].text == rig.t("staff.not_allowed", role="auditor", command="ack")
    await rig.tick(30 * MINUTES)
    assert len(alerts(rig, SECOND)) == 1


async def test_someone_not_on_the_staff_is_refused(rig: Rig) -> None:
    await raise_alert(rig)
    replies = await rig.press("mallory", buttons_of(rig.channel(FIRST)[0])["ack"])
    assert replies[-1].text == rig.t("staff.not_staff")
    await rig.tick(30 * MINUTES)
    assert len(alerts(rig, SECOND)) == 1


async def test_escalation_steps_survive_restarts_and_fire_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock)
    await raise_alert(rig)
    await rig.haven.close()
    clock.advance(45 * MINUTES)  # down past the first level's timeout
    for _ in range(2):
        again = await open_rig(tmp_path / "data", clock)
        await again.haven.scheduler.rearm()
        await again.haven.sender.drain()
        escalated = alerts(again, SECOND)
        await again.haven.close()
        if escalated:
            break
    assert len(escalated) == 1, "the overdue step fires at the first start, and only there"
    later = await open_rig(tmp_path / "data", clock)
    await later.haven.scheduler.rearm()
    # The second level's 30 minutes count from the (late) escalation, not from the outage.
    assert later.haven.scheduler.next_wake == clock.now() + 30 * MINUTES
    await later.haven.close()


async def test_new_danger_on_an_unacknowledged_case_updates_without_restarting_the_clock(
    rig: Rig,
) -> None:
    await raise_alert(rig)
    await rig.tick(10 * MINUTES)
    await rig.victim.text("he threatened to kill me if I tell anyone")
    edits = [m.text for m in rig.channel(FIRST) if m.edit_of]
    assert len(alerts(rig, FIRST)) == 1 and len(edits) == 1, "the alert is edited in place"
    update = edits[0]
    assert update.startswith(rig.t("staff.alert_update"))
    assert rig.t("staff_reason.signal_threat") in update
    (edit,) = [m for m in rig.channel(FIRST) if m.edit_of]
    assert "ack" in buttons_of(edit), "still waiting for somebody"
    await rig.tick(20 * MINUTES)
    assert len(alerts(rig, SECOND)) == 1, "still escalated 30 minutes after the first alert"


async def test_more_escalations_due_at_once_than_one_batch_all_move_on(rig: Rig) -> None:
    for n in range(3):
        await triage(Victim(rig.haven, rig.adapter, f"many{n}"), extortion="yes")
    rig.clock.advance(30 * MINUTES)
    queued = await rig.haven.staff.escalator.fire_due(rig.clock.now(), batch=2)
    await rig.haven.sender.drain()
    assert len(alerts(rig, SECOND)) == 3
    assert queued == 6, "each case: its alert to the second level and the notice to the first"


async def test_a_foreign_or_unknown_alert_button_gets_a_clear_answer(rig: Rig) -> None:
    for data in ("s:zap:1", "s:ack:999", "nonsense"):
        replies = await rig.press("bob", Button("?", data))
        assert replies[-1].text == rig.t("staff.no_escalation")


async def test_erasing_a_case_ends_its_escalation(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")
    await rig.tick(120 * MINUTES)
    assert rig.channel(SECOND) == [], "an erased case never escalates"
    assert len(rig.channel(FIRST)) == 1


# ---- the configured threshold ------------------------------------------------------------

# One victim per severity: no escalating answer (normal), a leak in group chats (high),
# extortion (critical).
SEVERITY_OF_VICTIM = {
    "normal": {"extortion": "no", "spread": "private_chats"},
    "high": {"extortion": "no", "spread": "group_chats"},
    "critical": {"extortion": "yes", "spread": "private_chats"},
}
RANK = {"normal": 0, "high": 1, "critical": 2}


@pytest.mark.parametrize("threshold", ["normal", "high", "critical"])
async def test_only_cases_at_or_above_the_configured_threshold_alert(
    tmp_path: Path, clock: ManualClock, threshold: str
) -> None:
    rig = await open_rig(tmp_path / "data", clock, f'\n[escalation]\nthreshold = "{threshold}"\n')
    try:
        for severity, answers in SEVERITY_OF_VICTIM.items():
            await triage(Victim(rig.haven, rig.adapter, severity), **answers)
        alerted = {
            severity
            for severity in SEVERITY_OF_VICTIM
            if rig.t("ui.escalated") in "\n".join(m.text for m in rig.adapter.sent[severity])
        }
        # A case with no escalating answer never alerts, whatever the threshold.
        expected = {s for s in ("high", "critical") if RANK[s] >= RANK[threshold]}
        assert alerted == expected
        assert len(alerts(rig, FIRST)) == len(expected)
        severities = {rig.t(f"severity.{s}") for s in expected}
        assert {text.split(" · ")[1] for text in alerts(rig, FIRST)} == severities
    finally:
        await rig.haven.close()


# ---- which case a button acknowledges ----------------------------------------------------


async def test_an_alerts_acknowledge_button_acknowledges_that_case_and_no_other(
    rig: Rig,
) -> None:
    # Case 1 opens quietly and only later turns serious, so case 2's escalation is the
    # first: escalation and case numbers differ, as they do in a real deployment.
    quiet, loud = Victim(rig.haven, rig.adapter, "quiet"), Victim(rig.haven, rig.adapter, "loud")
    await triage(quiet)
    await triage(loud, extortion="yes")
    await quiet.text("he wrote: I will kill you if you tell anyone")  # a threat: case 1 alerts
    first, second = alerts(rig, FIRST)
    assert first.startswith("🚨 Case #2 ") and second.startswith("🚨 Case #1 ")
    (case_1_alert,) = [m for m in rig.channel(FIRST) if m.text.startswith("🚨 Case #1 ")]

    replies = await rig.press("bob", buttons_of(case_1_alert)["ack"])

    assert replies[-1].text == rig.t("staff.acknowledged", case_id=1, who="Bob")
    assert quiet.transcript().endswith(rig.t("ui.staff_on_it"))
    assert rig.t("ui.staff_on_it") not in loud.transcript()
    await rig.tick(30 * MINUTES)
    escalated = alerts(rig, SECOND)
    assert len(escalated) == 1 and "Case #2 " in escalated[0], "case 2 is still unacknowledged"


async def test_resolving_an_acknowledged_case_shows_who_did_each_and_when(
    rig: Rig, clock: ManualClock
) -> None:
    await raise_alert(rig)
    await rig.press("alice", buttons_of(rig.channel(FIRST)[0])["ack"])
    clock.advance(10 * MINUTES)
    await rig.command("bob", "resolve", "1")
    *_, last = [m for m in rig.channel(FIRST) if m.edit_of]
    acknowledged = rig.t("staff.acknowledged_by", who="Alice", at="2026-01-05 09:00")
    resolved = rig.t("staff.resolved_by", who="Bob", at="2026-01-05 09:10")
    assert last.text.endswith(f"\n{acknowledged}\n{resolved}") and not last.buttons
    async with rig.haven.db.transaction() as conn:
        row = await escalations.latest_of_case(conn, 1)
    assert row is not None and (row.state, row.closed_by) == (escalations.RESOLVED, "console:alice")


async def test_resolving_an_erased_case_names_who_resolved_and_no_acknowledger(
    rig: Rig, clock: ManualClock
) -> None:
    await raise_alert(rig)
    (alert,) = rig.channel(FIRST)
    # The alert's platform id on record before the erasure, so the resolve edits it: the
    # erasure drops a row whose "sent" mark is not written yet (its id is then lost).
    await rig.haven.sender.settle()
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")  # ends the escalation, which nobody acknowledged
    clock.advance(10 * MINUTES)
    await rig.command("bob", "resolve", "1")
    *_, last = [m for m in rig.channel(FIRST) if m.edit_of]
    resolved = rig.t("staff.resolved_by", who="Bob", at="2026-01-05 09:10")
    assert last.text == f"{alert.text}\n{resolved}" and not last.buttons


# ---- what each step queued, and where -----------------------------------------------------


async def test_each_pass_of_the_timer_counts_the_messages_it_queued(rig: Rig) -> None:
    escalator = rig.haven.staff.escalator
    await raise_alert(rig)
    assert await escalator.fire_due(rig.clock.now()) == 0, "nothing due yet"
    rig.clock.advance(30 * MINUTES)
    before = len(rig.channel(FIRST)) + len(rig.channel(SECOND))
    queued = await escalator.fire_due(rig.clock.now())
    await rig.haven.sender.drain()
    assert queued == len(rig.channel(FIRST)) + len(rig.channel(SECOND)) - before == 2
    rig.clock.advance(30 * MINUTES)
    assert await escalator.fire_due(rig.clock.now()) == 1, "a repeat: the last level only"


async def test_every_edit_of_an_alert_goes_to_its_own_staff_chat(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.tick(30 * MINUTES)
    await rig.victim.text("he threatened to kill me if I tell anyone")  # an update edit
    await rig.press("bob", buttons_of(rig.channel(SECOND)[0])["ack"], SECOND)  # a closing edit
    for chat_id in (FIRST, SECOND):
        edits = [m for m in rig.channel(chat_id) if m.edit_of]
        assert len(edits) == 2
        assert {m.chat for m in edits} == {ChatRef(PLATFORM, chat_id, ChatKind.STAFF)}
        closing = edits[-1]
        assert rig.t("staff_reason.signal_threat") in closing.text, "it keeps the update"


ALERT_OF_CASE_1 = "🚨 Case #1 "  # the head of its alerts, in each edit too


async def sent_payloads(rig: Rig, chats: tuple[str, ...] = (FIRST, SECOND)) -> list[str]:
    """The outbox rows of these chats, as stored."""
    async with rig.haven.db.transaction() as conn:
        query = select(outbox.c.payload).where(outbox.c.chat_id.in_(chats))
        return list((await conn.execute(query)).scalars())


async def test_erasing_a_case_blanks_its_alerts_and_every_edit_of_them(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.tick(30 * MINUTES)
    await rig.victim.text("he threatened to kill me if I tell anyone")
    await rig.press("bob", buttons_of(rig.channel(SECOND)[0])["ack"], SECOND)
    assert sum(ALERT_OF_CASE_1 in p for p in await sent_payloads(rig)) == 6, "2 alerts, 4 edits"
    on_it = rig.t("ui.staff_on_it")
    assert any(on_it in p for p in await sent_payloads(rig, ("v1",)))
    notice = "⏫ Case #1 was not acknowledged"
    assert any(notice in p for p in await sent_payloads(rig))
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")
    assert not [p for p in await sent_payloads(rig) if ALERT_OF_CASE_1 in p or notice in p]
    assert not [p for p in await sent_payloads(rig, ("v1",)) if on_it in p]


async def test_the_victim_closing_edits_each_alert_in_its_chat_for_that_case(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.tick(30 * MINUTES)
    async with rig.haven.db.transaction() as conn:
        case = await cases.get(conn, 1)
        assert case is not None
        await rig.haven.staff.escalator.victim_closed(conn, case, rig.clock.now())
    await rig.haven.sender.drain()
    line = rig.t("staff.alert_victim_closed", at="2026-01-05 09:30")
    for chat_id in (FIRST, SECOND):
        (edit,) = [m for m in rig.channel(chat_id) if m.edit_of]
        assert edit.chat == ChatRef(PLATFORM, chat_id, ChatKind.STAFF)
        assert edit.text.endswith(line) and "ack" in buttons_of(edit)
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")
    assert not [p for p in await sent_payloads(rig) if ALERT_OF_CASE_1 in p]


# ---- levels of different timeouts --------------------------------------------------------

# The first level waits 10 minutes (and would repeat every 20, were it the last), the
# second 40 before its first repeat, then every 15.
UNEVEN = STAFF_CONFIG.replace(
    "timeout_minutes = 30\nrepeat_minutes = 30", "timeout_minutes = 10\nrepeat_minutes = 20"
).replace("timeout_minutes = 30\nrepeat_minutes = 15", "timeout_minutes = 40\nrepeat_minutes = 15")


async def test_each_level_waits_its_own_timeout_and_the_notice_names_the_one_that_ran_out(
    tmp_path: Path, clock: ManualClock
) -> None:
    assert UNEVEN != STAFF_CONFIG
    rig = await open_rig(tmp_path / "data", clock, base=UNEVEN)
    try:
        await raise_alert(rig)
        await rig.tick(9 * MINUTES)
        assert alerts(rig, SECOND) == []
        await rig.tick(1 * MINUTES)
        (second,) = alerts(rig, SECOND)
        assert second.startswith(
            rig.t("staff.alert_escalated", age=rig.t("ui.duration_m", n=10), level=2)
        )
        notice = rig.t(
            "staff.escalated_notice", case_id=1, timeout=rig.t("ui.duration_m", n=10), level=2
        )
        assert rig.texts(FIRST)[-1] == notice
        await rig.tick(39 * MINUTES)
        assert len(alerts(rig, SECOND)) == 1
        await rig.tick(1 * MINUTES)
        assert len(alerts(rig, SECOND)) == 2, "the second level's own 40 minutes"
        await rig.tick(14 * MINUTES)
        assert len(alerts(rig, SECOND)) == 2
        await rig.tick(1 * MINUTES)
        assert len(alerts(rig, SECOND)) == 3, "then its repeat interval"
    finally:
        await rig.haven.close()


async def test_a_level_removed_while_its_alert_waited_repeats_at_the_last_level_left(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock)
    await raise_alert(rig)
    await rig.tick(30 * MINUTES)  # now at the second level
    await rig.haven.close()
    one_level = STAFF_CONFIG.replace(
        '[[escalation.levels]]\nchannels = ["console:leads"]\ntimeout_minutes = 30\n'
        "repeat_minutes = 15\n",
        "",
    )
    assert "console:leads" not in one_level
    clock.advance(30 * MINUTES)
    rig = await open_rig(tmp_path / "data", clock, base=one_level)
    try:
        (repeat,) = alerts(rig, FIRST)
        assert repeat.startswith(rig.t("staff.alert_repeat", age=rig.t("ui.duration_m", n=60)))
        await rig.tick(29 * MINUTES)
        assert len(alerts(rig, FIRST)) == 1
        await rig.tick(1 * MINUTES)
        assert len(alerts(rig, FIRST)) == 2, "then the first level's repeat interval"
    finally:
        await rig.haven.close()


# ---- the log -----------------------------------------------------------------------------


async def test_the_log_names_each_escalation_with_its_reasons_and_each_move(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.staff.escalation"):
        await triage(rig.victim)  # nothing serious: no alert yet
        async with rig.haven.db.transaction() as conn:
            case = await cases.get(conn, 1)
            assert case is not None
            now = rig.clock.now()
            await rig.haven.staff.escalator.raise_for(conn, case, ("extortion", "minor"), now)
        await rig.tick(30 * MINUTES)
        await rig.tick(30 * MINUTES)  # a repeat is not a move
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.staff.escalation"]
    assert lines == ["case 1 escalated: extortion,minor", "case 1: escalation moved to level 2"]


async def test_the_victim_closing_a_case_edits_no_alert_unless_one_waits(rig: Rig) -> None:
    await triage(rig.victim)  # case 1: nothing serious, no alert
    await triage(Victim(rig.haven, rig.adapter, "v2"), extortion="yes")  # case 2
    await rig.press("alice", buttons_of(rig.channel(FIRST)[0])["ack"])
    before = rig.texts(FIRST)
    async with rig.haven.db.transaction() as conn:
        for case_id in (1, 2):
            case = await cases.get(conn, case_id)
            assert case is not None
            await rig.haven.staff.escalator.victim_closed(conn, case, rig.clock.now())
    await rig.haven.sender.drain()
    assert rig.texts(FIRST) == before, "an acknowledged alert says so already"


async def test_a_step_another_instance_took_first_sends_nothing_more(rig: Rig) -> None:
    escalator = rig.haven.staff.escalator
    await raise_alert(rig)
    rig.clock.advance(30 * MINUTES)
    async with rig.haven.db.transaction() as conn:
        (seen,) = await escalations.due(conn, rig.clock.now(), 10)
    await rig.tick(0 * MINUTES)  # the other instance moves it on
    # This one still holds the row as it read it: its step's claim must fail.
    async with rig.haven.db.transaction() as conn:
        assert await escalator._step(conn, seen, rig.clock.now()) == 0
    await rig.haven.sender.drain()
    assert len(alerts(rig, SECOND)) == 1 and len(rig.channel(FIRST)) == 2


THREAT = "he threatened to kill me if I tell anyone"


async def test_new_danger_after_an_acknowledgement_alerts_afresh_but_the_victim_knows(
    rig: Rig,
) -> None:
    await raise_alert(rig)
    await rig.press("alice", buttons_of(rig.channel(FIRST)[0])["ack"])
    await rig.victim.text(THREAT)
    assert len(alerts(rig, FIRST)) == 2, "a new alert, not an edit of the acknowledged one"
    assert rig.victim.transcript().count(rig.t("ui.escalated")) == 1, "someone is on it"


async def test_new_danger_reopens_a_resolved_case(rig: Rig) -> None:
    await raise_alert(rig)
    await rig.command("alice", "resolve", "1")
    await rig.victim.text(THREAT)
    assert len(alerts(rig, FIRST)) == 2
    assert rig.victim.transcript().count(rig.t("ui.escalated")) == 2, "nobody is on it now"
    replies = await rig.command("bob", "resolve", "1")
    assert replies[-1].text == rig.t("staff.resolved", case_id=1, who="Bob")


async def test_an_alerts_resolve_button_resolves_its_case(rig: Rig) -> None:
    await triage(rig.victim)  # case 1: no alert, so case 2's escalation is number 1
    loud = Victim(rig.haven, rig.adapter, "loud")
    await triage(loud, extortion="yes")
    replies = await rig.press("alice", buttons_of(rig.channel(FIRST)[0])["resolve"])
    assert replies[-1].text == rig.t("staff.resolved", case_id=2, who="Alice")
    assert rig.adapter.last("loud").text == rig.t("talk.victim_resolved")


async def test_an_escalator_without_levels_is_refused_by_name(rig: Rig) -> None:
    # The config refuses an empty [[escalation.levels]] first; this is the code's own guard.
    words = rig.haven.staff.escalator.words
    with pytest.raises(ValueError, match=r"^escalation needs at least one level$"):
        Escalator(rig.haven.db, (), words)
