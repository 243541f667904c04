"""The daily briefing: posted on schedule in the configured zone, once; a missed one is
posted once at the next start, marked late; its figures and the signed tree head are right.

ManualClock from Monday 5 January 2026, 09:00 in Shanghai (01:00 UTC); briefing at 09:00.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.clock import ManualClock
from bot.events import ForwardOrigin, InboundKind, OriginKind
from storage import briefings, ledger
from storage.schema import outbox
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.staff_rig import FIRST, SECOND, Rig, open_rig

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

HOUR = timedelta(hours=1)


@pytest.fixture
async def rig(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path / "data", clock)
    yield opened
    await opened.haven.close()


def briefings_in(rig: Rig, chat_id: str) -> list[str]:
    title = rig.t("briefing.title", at="").strip()
    return [t for t in rig.texts(chat_id) if t.startswith(title)]


async def test_the_briefing_is_posted_daily_at_the_local_time_to_every_staff_channel(
    rig: Rig,
) -> None:
    assert rig.haven.scheduler.next_wake is not None
    assert rig.haven.scheduler.next_wake.isoformat() == "2026-01-06T01:00:00+00:00"
    await rig.tick(23 * HOUR + 59 * timedelta(minutes=1))
    assert briefings_in(rig, FIRST) == []
    await rig.tick(timedelta(minutes=1))
    (first,) = briefings_in(rig, FIRST)
    assert briefings_in(rig, SECOND) == [first]
    assert first.startswith(rig.t("briefing.title", at="2026-01-06 09:00"))
    assert "late" not in first
    await rig.tick(HOUR)
    assert len(briefings_in(rig, FIRST)) == 1, "once a day"
    await rig.tick(23 * HOUR)
    assert len(briefings_in(rig, FIRST)) == 2


async def test_the_briefing_reports_the_figures_and_the_signed_tree_head(rig: Rig) -> None:
    await triage(rig.victim, extortion="yes")
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name="Zhang San")
    await rig.victim._send(InboundKind.FORWARD, text="pay or else", forward_origin=origin)
    await rig.tick(30 * timedelta(minutes=1))  # a reminder goes out, the alert escalates
    async with rig.haven.db.transaction() as conn:
        await conn.execute(update(outbox).where(outbox.c.id == 1).values(state="dead"))
    await rig.tick(23 * HOUR + 30 * timedelta(minutes=1))
    (text,) = briefings_in(rig, FIRST)
    lines = text.splitlines()
    assert lines[1] == rig.t("briefing.new_cases", n=0)  # opened more than 24 h ago
    assert lines[2] == rig.t("briefing.open_header", n=1)
    assert lines[3] == rig.t(
        "briefing.open_line",
        severity=rig.t("severity.critical"),
        step=rig.t("staff.step_n", n=1),
        n=1,
    )
    assert rig.t("briefing.unacknowledged", n=1) + " (#1)" in lines
    assert rig.t("briefing.evidence_added", n=0) in lines
    assert rig.t("briefing.dead_letters", n=1) in lines
    async with rig.haven.db.transaction() as conn:
        head = await ledger.latest_head(conn)
    assert head is not None
    assert lines[-1] == rig.t("briefing.tree_head", size=head.head.size, root=head.head.root.hex())
    assert head.head.size >= 1


async def test_counts_cover_the_last_24_hours(rig: Rig) -> None:
    await triage(rig.victim)
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name="Zhang San")
    await rig.victim._send(InboundKind.FORWARD, text="the leaked screenshot", forward_origin=origin)
    text = (await rig.command("bob", "brief"))[-1].text
    assert rig.t("briefing.new_cases", n=1) in text
    assert rig.t("briefing.evidence_added", n=1) in text
    assert rig.t("briefing.overdue", n=0) in text
    await rig.tick(HOUR)  # the 30-minute evidence deadline is past
    text = (await rig.command("bob", "brief"))[-1].text
    assert rig.t("briefing.overdue", n=1) in text
    assert rig.t("briefing.reminders_sent", n=1) in text


async def test_a_missed_briefing_is_posted_once_at_start_marked_late(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock)
    await rig.haven.close()
    clock.advance(3 * 24 * HOUR + 2 * HOUR)  # down over three briefing times
    again = await open_rig(tmp_path / "data", clock)
    (late,) = briefings_in(again, FIRST)
    assert late.startswith(
        rig.t("briefing.title_late", at="2026-01-08 11:00", due="2026-01-06 09:00")
    )
    await again.haven.close()
    third = await open_rig(tmp_path / "data", clock)
    assert briefings_in(third, FIRST) == [], "posted once, not again at the next start"
    async with third.haven.db.transaction() as conn:
        states = [(state, was_late) for _, state, was_late in await briefings.posted(conn)]
    assert states == [("posted", True), ("pending", False)]
    await third.haven.close()


async def test_a_disabled_briefing_is_never_posted(tmp_path: Path, clock: ManualClock) -> None:
    rig = await open_rig(tmp_path / "data", clock, "\n[briefing]\nenabled = false\n")
    await rig.tick(48 * HOUR)
    assert briefings_in(rig, FIRST) == []
    await rig.haven.close()


async def test_a_new_briefing_time_replaces_the_pending_one(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock)
    await rig.haven.close()
    rig = await open_rig(tmp_path / "data", clock, '\n[briefing]\ntime = "18:30"\n')
    assert rig.haven.scheduler.next_wake is not None
    assert rig.haven.scheduler.next_wake.isoformat() == "2026-01-05T10:30:00+00:00"
    await rig.tick(24 * HOUR)
    assert len(briefings_in(rig, FIRST)) == 1, "only the new time, not the old one too"
    await rig.haven.close()


async def test_progress_notes_go_only_to_victims_who_asked_when_offered(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock, "\n[briefing]\nvictim_progress_notes = true\n")
    try:
        await triage(rig.victim)
        other = Victim(rig.haven, rig.adapter, "v2")
        await triage(other)
        assert (await rig.victim.command("updates"))[-1].text == rig.t("progress.on")
        await rig.tick(24 * HOUR)
        note = rig.t("progress.note", case_id=1, step=1, steps=3, done=0, total=6)
        assert rig.victim.transcript().endswith(note)
        assert "📬" not in other.transcript()
        assert (await rig.victim.command("updates", "off"))[-1].text == rig.t("progress.off")
        await rig.tick(24 * HOUR)
        assert rig.victim.transcript().count("📬") == 1
    finally:
        await rig.haven.close()


async def test_progress_notes_are_off_unless_the_deployment_offers_them(rig: Rig) -> None:
    await triage(rig.victim)
    assert (await rig.victim.command("updates", "on"))[-1].text == rig.t("progress.not_offered")
    await rig.tick(24 * HOUR)
    assert "📬" not in rig.victim.transcript()


async def test_the_briefing_head_is_a_checkpoint_and_says_how_many_wait_for_a_timestamp(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Issue 19: the briefing's head is timestamped like an export's; a time-stamping
    authority that does not answer (nothing listens on this port) holds nothing up, and
    the briefing says how many heads still wait."""
    down = '\n[evidence]\ntsa_urls = ["http://127.0.0.1:9/tsa"]\ntsa_timeout_seconds = 1\n'
    rig = await open_rig(tmp_path / "data", clock, down)
    try:
        text = (await rig.command("bob", "brief"))[-1].text
        assert rig.t("briefing.timestamps_waiting", n=1) in text
        text = (await rig.command("bob", "brief"))[-1].text
        assert rig.t("briefing.timestamps_waiting", n=2) in text
        async with rig.haven.db.transaction() as conn:
            head = await ledger.latest_head(conn)
        assert head is not None and head.checkpoint.startswith("haven/")
    finally:
        await rig.haven.close()
