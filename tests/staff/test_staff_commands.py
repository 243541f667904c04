"""Staff commands in the staff channel, checked against roles, through the real core."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.privacy.word_digest import NOTE_LABEL, custody_reason
from bot.runtime import Haven
from storage import case_keys, custody
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.staff_rig import PLATFORM, STAFF_CONFIG, Rig, open_rig, staff_config

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

ALICE = """
[[staff]]
platform = "console"
user_id = "alice"
role = "operator"
name = "Alice"
"""


@pytest.fixture
async def rig(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path / "data", clock)
    yield opened
    await opened.haven.close()


async def last(rig: Rig, user: str, command: str, args: str = "") -> str:
    return (await rig.command(user, command, args))[-1].text


async def custody_actions(rig: Rig, case_id: int) -> list[tuple[str, str, str]]:
    async with rig.haven.db.transaction() as conn:
        rows = await custody.for_case(conn, case_id)
    return [(r.event.actor, r.event.action, r.event.reason) for r in rows]


async def two_cases(rig: Rig) -> None:
    """Case 1: extortion (critical, escalated); case 2: an ordinary one (normal)."""
    await triage(rig.victim, extortion="yes")
    await triage(Victim(rig.haven, rig.adapter, "v2"))


async def test_cases_lists_open_cases_most_severe_first(rig: Rig) -> None:
    await two_cases(rig)
    listing = (await last(rig, "alice", "cases")).splitlines()
    assert listing[0] == rig.t("staff.cases_header", total=2)
    assert listing[1].startswith("#1 · " + rig.t("severity.critical"))
    assert listing[1].endswith(rig.t("staff.awaiting_ack"))
    assert listing[2].startswith("#2 · " + rig.t("severity.normal"))
    assert listing[2].endswith(rig.t("staff.unassigned"))


async def test_case_shows_a_summary_and_never_content(rig: Rig) -> None:
    await two_cases(rig)
    await rig.victim.text("he threatened to kill me, my number is 13812345678")
    summary = await last(rig, "alice", "case", "1")
    assert summary.startswith("Case #1 · " + rig.t("severity.critical"))
    assert rig.t("staff_reason.extortion") in summary
    assert "13812345678" not in summary and "threatened" not in summary


@pytest.mark.parametrize(
    ("command", "args", "key", "fields"),
    [
        ("case", "", "staff.usage", {"usage": "/case N [--talk]"}),
        ("case", "abc", "staff.usage", {"usage": "/case N [--talk]"}),
        ("case", "99", "staff.no_such_case", {"case_id": 99}),
        ("note", "1", "staff.note_empty", {}),
        ("note", "x text", "staff.usage", {"usage": "/note N TEXT"}),
        ("assign", "1", "staff.usage", {"usage": "/assign N @person"}),
        ("assign", "1 @carol", "staff.assign_unknown", {"handle": "@carol"}),
        ("assign", "1 @nobody", "staff.assign_unknown", {"handle": "@nobody"}),
        ("resolve", "", "staff.usage", {"usage": "/resolve N"}),
        ("frobnicate", "", "staff.unknown_command", {"command": "/frobnicate"}),
    ],
)
async def test_missing_or_malformed_arguments_get_a_clear_answer(
    rig: Rig, command: str, args: str, key: str, fields: dict[str, object]
) -> None:
    await two_cases(rig)
    assert await last(rig, "bob", command, args) == rig.t(key, **fields)


async def test_a_note_is_custody_logged_by_a_hash_keyed_by_the_case(rig: Rig) -> None:
    await two_cases(rig)
    words = "called back, she is safe for now"
    answer = await last(rig, "alice", "note", f"1 {words}")
    assert answer == rig.t("staff.noted", case_id=1)
    (event,) = [e for e in await custody_actions(rig, 1) if e[1] == "note"]
    async with rig.haven.db.transaction() as conn:
        key = await case_keys.data_key(conn, rig.haven.keyring, 1)
    assert event[0] == "console:alice"
    assert event[2] == custody_reason(key, NOTE_LABEL, words)
    # Not a plain hash anyone could test a guessed note against.
    assert hashlib.sha256(words.encode()).hexdigest()[:32] not in event[2]
    assert "safe" not in event[2]
    summary = await last(rig, "bob", "case", "1")
    assert "Alice: called back, she is safe for now" in summary


async def test_assign_and_resolve(rig: Rig) -> None:
    await two_cases(rig)
    assigned = [m.text for m in await rig.command("bob", "assign", "2 @alice")]
    name = rig.t("talk.default_name")
    assert assigned == [
        rig.t("staff.assigned", case_id=2, who="Alice", by="Bob"),
        rig.t("talk.taken", case_id=2, who="Alice", name=name),
    ]
    assert rig.t("staff.assigned_to", who="Alice") in await last(rig, "bob", "case", "2")
    assert await last(rig, "alice", "resolve", "2") == rig.t(
        "staff.resolved", case_id=2, who="Alice"
    )
    assert await last(rig, "bob", "resolve", "2") == rig.t(
        "staff.resolve_already", case_id=2, who="Alice", at="2026-01-05 09:00"
    )
    listing = await last(rig, "alice", "cases")
    assert listing.startswith(rig.t("staff.cases_header", total=1)) and "#2" not in listing


async def test_brief_posts_the_briefing_where_it_was_asked(rig: Rig) -> None:
    await two_cases(rig)
    briefing = await last(rig, "carol", "brief")
    assert briefing.startswith(rig.t("briefing.title_now", at="2026-01-05 09:00"))
    assert rig.t("briefing.unacknowledged", n=1) + " (#1)" in briefing


@pytest.mark.parametrize(
    ("user", "role", "command", "args"),
    [
        ("carol", "auditor", "cases", ""),
        ("carol", "auditor", "case", "1"),
        ("carol", "auditor", "note", "1 hello"),
        ("alice", "operator", "hold", "1 court order"),
        ("alice", "operator", "approve", "1"),
        ("alice", "operator", "custody", "1"),
    ],
)
async def test_a_command_without_the_role_is_refused_and_logged(
    rig: Rig, user: str, role: str, command: str, args: str, caplog: pytest.LogCaptureFixture
) -> None:
    await two_cases(rig)
    answer = await last(rig, user, command, args)
    assert answer == rig.t("staff.not_allowed", role=role, command=f"/{command}")
    assert f"refused {command} to console:{user}" in caplog.text


async def test_refusals_that_touch_evidence_are_custody_events(rig: Rig) -> None:
    await two_cases(rig)
    await rig.command("alice", "hold", "1 court order")
    await rig.command("mallory", "custody", "1")
    refused = [e for e in await custody_actions(rig, 1) if e[1] == "refused"]
    assert refused == [
        ("console:alice", "refused", "/hold refused: role operator"),
        ("console:mallory", "refused", "/custody refused: not staff"),
    ]


async def test_admins_manage_holds_and_auditors_read_the_custody_log(rig: Rig) -> None:
    await two_cases(rig)
    assert await last(rig, "bob", "hold", "1") == rig.t("staff.usage", usage="/hold N REASON")
    assert await last(rig, "bob", "hold", "1 court order 2026-17") == rig.t("staff.held", case_id=1)
    assert await last(rig, "bob", "hold", "1 again") == rig.t("staff.hold_already", case_id=1)
    # /release now ends a conversation with the victim, and says where holds went.
    moved = rig.t("talk.nothing_to_release", case_id=1)
    assert await last(rig, "bob", "release", "1") == moved
    assert await last(rig, "bob", "unhold", "1") == rig.t("staff.released", case_id=1)
    assert await last(rig, "bob", "unhold", "1") == rig.t("staff.hold_none", case_id=1)
    assert await last(rig, "bob", "hold", "1 again") == rig.t("staff.held", case_id=1)
    assert await last(rig, "bob", "hold", "1 --release") == rig.t("staff.released", case_id=1)
    log = (await last(rig, "carol", "custody", "1")).splitlines()
    assert log[0] == rig.t("staff.custody_header", case_id=1, total=4)
    placed, lifted = rig.t("custody.hold"), rig.t("custody.release")
    assert log[1] == f"• 2026-01-05 09:00 · Bob · {placed} · court order 2026-17"
    assert log[2] == f"• 2026-01-05 09:00 · Bob · {lifted}"


async def test_a_staff_member_removed_while_holding_a_case(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock)
    await two_cases(rig)
    await rig.command("bob", "assign", "1 @alice")
    await rig.haven.close()
    adapter = MemoryAdapter(PLATFORM)
    config = staff_config(tmp_path / "data", base=STAFF_CONFIG.replace(ALICE, ""))
    haven = await Haven.open(config, {PLATFORM: adapter}, clock)
    rig = Rig(haven, adapter, clock)
    try:
        former = rig.t("staff.former_staff", who="console:alice")
        assert former in await last(rig, "bob", "cases")
        assert former in await last(rig, "bob", "case", "1")
        assert await last(rig, "alice", "cases") == rig.t("staff.not_staff")
        await rig.command("bob", "assign", "1 @bob")
        assert rig.t("staff.assigned_to", who="Bob") in await last(rig, "bob", "case", "1")
    finally:
        await haven.close()


async def test_personal_data_in_notes_and_custody_reasons_is_masked_for_staff(rig: Rig) -> None:
    await two_cases(rig)
    note = "1 she gave 13812345678 and a@example.com, ID 11010519491231002X"
    await rig.command("alice", "note", note)
    summary = await last(rig, "bob", "case", "1")
    assert "138****5678" in summary and "a***@example.com" in summary
    assert "13812345678" not in summary and "11010519491231002X" not in summary
    await rig.command("bob", "hold", "1 police file for 13812345678")
    custody_log = await last(rig, "carol", "custody", "1")
    assert "138****5678" in custody_log and "13812345678" not in custody_log
