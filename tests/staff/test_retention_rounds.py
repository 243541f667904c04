"""Retention inside the running bot: a case closed longer than `[retention]
closed_case_days` ago is erased by the daily round (just before the briefing, which
reports it), as a custody event; a case on legal hold is kept; the clock is moved, not
waited for.

ManualClock from Monday 5 January 2026, 09:00 in Shanghai (01:00 UTC); briefing at 09:00.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.clock import ManualClock
from bot.evidence.retention import ROUND
from storage.coordination import Scope
from storage.coordinator import Coordinator
from storage.schema import case_keys, cases, custody_events
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.staff_rig import FIRST, Rig, open_rig

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

DAY = timedelta(days=1)


def briefings_in(rig: Rig) -> list[str]:
    title = rig.t("briefing.title", at="").split("·")[0]
    return [t for t in rig.texts(FIRST) if t.startswith(title)]


async def erased_cases(rig: Rig) -> list[int]:
    async with rig.haven.db.transaction() as conn:
        rows = await conn.execute(
            select(case_keys.c.case_id).where(case_keys.c.erased_at.is_not(None))
        )
        return sorted(row[0] for row in rows)


async def close_case(rig: Rig, case_id: int) -> None:
    now = rig.clock.now()
    async with rig.haven.db.transaction() as conn:
        await conn.execute(
            update(cases).where(cases.c.id == case_id).values(status="closed", closed_at=now)
        )


async def test_the_running_bot_erases_a_case_closed_longer_than_the_period_and_reports_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock, "\n[retention]\nclosed_case_days = 30\n")
    try:
        await triage(rig.victim)
        await triage(Victim(rig.haven, rig.adapter, "v2"))
        await triage(Victim(rig.haven, rig.adapter, "v3"))  # stays open
        await close_case(rig, 1)
        await close_case(rig, 2)
        await rig.command("bob", "hold", "2 litigation")

        await rig.tick(30 * DAY)  # closed exactly 30 days ago: not yet past the period
        assert await erased_cases(rig) == []
        assert rig.t("briefing.retention", n=0, days=30) in briefings_in(rig)[-1].splitlines()

        await rig.tick(DAY)  # the next round, at the briefing's time
        assert await erased_cases(rig) == [1]
        latest = briefings_in(rig)[-1]
        assert latest.startswith(rig.t("briefing.title", at="2026-02-05 09:00"))
        assert rig.t("briefing.retention", n=1, days=30) in latest.splitlines()
        async with rig.haven.db.transaction() as conn:
            events = (
                await conn.execute(
                    select(custody_events.c.case_id, custody_events.c.actor)
                    .where(custody_events.c.action == "erase")
                    .order_by(custody_events.c.id)
                )
            ).all()
        assert [tuple(e) for e in events] == [(1, "retention")]

        await rig.tick(DAY)
        assert await erased_cases(rig) == [1], "erased once; the held case is kept"
        assert rig.t("briefing.retention", n=0, days=30) in briefings_in(rig)[-1].splitlines()
    finally:
        await rig.haven.close()


async def test_a_round_missed_while_haven_was_down_runs_at_the_next_start(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock, "\n[briefing]\nenabled = false\n")
    await triage(rig.victim)
    await close_case(rig, 1)
    await rig.haven.close()
    clock.advance(181 * DAY + 3 * timedelta(hours=1))  # past the 180 days, off the round's hour
    again = await open_rig(tmp_path / "data", clock, "\n[briefing]\nenabled = false\n")
    try:
        assert await erased_cases(again) == [1]
    finally:
        await again.haven.close()


@pytest.mark.only_on("postgresql")
async def test_an_instance_skips_the_round_another_instance_is_running(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock, "\n[retention]\nclosed_case_days = 30\n")
    other = await Coordinator.open(rig.haven.db)  # another instance's session
    try:
        await triage(rig.victim)
        await close_case(rig, 1)
        assert await other.try_locks(Scope.DUTY, [ROUND]) == {ROUND}  # its round under way

        await rig.tick(31 * DAY)
        assert await erased_cases(rig) == [], "left to the instance holding the round"

        await other.unlock(Scope.DUTY, [ROUND])
        await rig.tick(DAY)
        assert await erased_cases(rig) == [1]
        assert await other.try_locks(Scope.DUTY, [ROUND]) == {ROUND}, "released after it"
    finally:
        await other.close()
        await rig.haven.close()
