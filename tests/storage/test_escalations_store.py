"""The escalation rows as the timer and the buttons rely on them: which are due, which
step a press or a tick may claim, which end with the case, and where a case's alerts are.

Each query is checked against rows of other cases and other states around it, since a
condition left out would show only next to a row it should have excluded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import cases, escalations
from storage.database import Database
from storage.escalations import ACKNOWLEDGED, OPEN, RESOLVED, EscalationRow
from storage.schema import escalations as table
from tests.backends import Backend

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
async def db(tmp_path: Path, backend: Backend) -> AsyncIterator[Database]:
    """Cases 1 to 4, none escalated yet."""
    async with backend.migrated(tmp_path / "haven.db") as database:
        async with database.transaction() as conn:
            for user in ("u1", "u2", "u3", "u4"):
                await cases.create(
                    conn, platform="memory", user_id=user, chat_id=user, locale="en", now=NOW
                )
        yield database


async def opened(db: Database, case_id: int, *, next_in: timedelta, at: datetime = NOW) -> int:
    async with db.transaction() as conn:
        row = await escalations.create(conn, case_id, ["severity"], at + next_in, at)
    return row.id


async def row_of(db: Database, escalation_id: int) -> EscalationRow:
    async with db.transaction() as conn:
        found = await escalations.get(conn, escalation_id)
    assert found is not None
    return found


async def test_an_opened_escalation_reads_back_as_written(db: Database) -> None:
    first = await opened(db, 2, next_in=HOUR)
    async with db.transaction() as conn:
        second = await escalations.create(conn, 1, ["asked_for_person", "severity"], NOW, NOW)
        assert await escalations.get(conn, 999) is None
        assert await escalations.latest_of_case(conn, 3) is None
    assert second == EscalationRow(
        id=second.id,
        case_id=1,
        state=OPEN,
        level=0,
        rounds=1,
        reasons=("asked_for_person", "severity"),
        next_at=NOW,
        opened_at=NOW,
        closed_by="",
        closed_at=None,
    )
    assert (await row_of(db, first)).case_id == 2
    assert second.id != first


async def test_the_latest_escalation_of_a_case_is_its_newest(db: Database) -> None:
    old = await opened(db, 1, next_in=HOUR)
    async with db.transaction() as conn:
        await escalations.close(conn, old, state=RESOLVED, by="op", now=NOW)
    new = await opened(db, 1, next_in=HOUR, at=NOW + HOUR)
    await opened(db, 2, next_in=HOUR, at=NOW + 2 * HOUR)
    async with db.transaction() as conn:
        latest = await escalations.latest_of_case(conn, 1)
    assert latest is not None and (latest.id, latest.state) == (new, OPEN)


async def test_new_reasons_join_the_old_ones_once_each_in_order(db: Database) -> None:
    mine = await opened(db, 1, next_in=HOUR)
    other = await opened(db, 2, next_in=HOUR)
    later = NOW + HOUR
    async with db.transaction() as conn:
        row = await row_of_in(conn, mine)
        await escalations.add_reasons(conn, row, ["talk_unanswered", "severity", "x"], later)
        updated_at = (
            await conn.execute(select(table.c.updated_at).where(table.c.id == mine))
        ).scalar()
    assert (await row_of(db, mine)).reasons == ("severity", "talk_unanswered", "x")
    assert updated_at == later
    assert (await row_of(db, other)).reasons == ("severity",)


async def row_of_in(conn: AsyncConnection, escalation_id: int) -> EscalationRow:
    found = await escalations.get(conn, escalation_id)
    assert found is not None
    return found


async def test_due_are_the_open_ones_whose_step_has_come_oldest_first(db: Database) -> None:
    late = await opened(db, 1, next_in=2 * HOUR)  # due at NOW + 2h
    early = await opened(db, 2, next_in=HOUR)  # due at NOW + 1h
    not_yet = await opened(db, 3, next_in=3 * HOUR)
    closed = await opened(db, 4, next_in=HOUR)
    async with db.transaction() as conn:
        await escalations.close(conn, closed, state=ACKNOWLEDGED, by="op", now=NOW)
        due = [row.id for row in await escalations.due(conn, NOW + 2 * HOUR, 10)]
        first_only = [row.id for row in await escalations.due(conn, NOW + 2 * HOUR, 1)]
        none_yet = await escalations.due(conn, NOW + HOUR - timedelta(seconds=1), 10)
    assert due == [early, late]
    assert first_only == [early]
    assert none_yet == []
    assert not_yet not in due


async def test_a_step_is_claimed_once_and_only_while_open(db: Database) -> None:
    mine = await opened(db, 1, next_in=HOUR)
    other = await opened(db, 2, next_in=HOUR)
    later = NOW + HOUR
    async with db.transaction() as conn:
        seen = await row_of_in(conn, mine)
        assert await escalations.advance(
            conn, seen, level=1, rounds=1, next_at=later + HOUR, now=later
        )
        # the same step seen by a second tick, or a later round at the same level
        assert not await escalations.advance(
            conn, seen, level=1, rounds=1, next_at=later, now=later
        )
        stepped = await row_of_in(conn, mine)
        at_step = later + timedelta(minutes=1)
        assert await escalations.advance(
            conn, stepped, level=1, rounds=2, next_at=later, now=at_step
        )
        stepped_at = (
            await conn.execute(select(table.c.updated_at).where(table.c.id == mine))
        ).scalar()
        again = await row_of_in(conn, mine)
        stale_rounds = EscalationRow(**{**again.__dict__, "rounds": 1})
        assert not await escalations.advance(
            conn, stale_rounds, level=1, rounds=3, next_at=later, now=later
        )
        stale_level = EscalationRow(**{**again.__dict__, "level": 0})
        assert not await escalations.advance(
            conn, stale_level, level=1, rounds=3, next_at=later, now=later
        )
        assert await escalations.close(conn, mine, state=ACKNOWLEDGED, by="op", now=later)
        acked = await row_of_in(conn, mine)
        assert not await escalations.advance(
            conn, acked, level=2, rounds=1, next_at=later, now=later
        )
        updated_at = (
            await conn.execute(select(table.c.updated_at).where(table.c.id == other))
        ).scalar()
    assert (again.level, again.rounds, again.next_at) == (1, 2, later)
    assert stepped_at == at_step
    assert (await row_of(db, other)).level == 0 and updated_at == NOW


async def test_the_first_press_closes_it_and_a_second_finds_it_closed(db: Database) -> None:
    mine = await opened(db, 1, next_in=HOUR)
    other = await opened(db, 2, next_in=HOUR)
    later = NOW + HOUR
    async with db.transaction() as conn:
        assert await escalations.close(conn, mine, state=ACKNOWLEDGED, by="slack:UANN", now=later)
        assert not await escalations.close(conn, mine, state=RESOLVED, by="slack:UBOB", now=later)
    row = await row_of(db, mine)
    assert (row.state, row.closed_by, row.closed_at, row.next_at) == (
        ACKNOWLEDGED,
        "slack:UANN",
        later,
        None,
    )
    assert (await row_of(db, other)).state == OPEN
    async with db.transaction() as conn:
        stamps = dict((await conn.execute(select(table.c.id, table.c.updated_at))).all())
    assert stamps == {mine: later, other: NOW}


async def test_resolving_a_case_ends_its_acknowledged_escalation_only(db: Database) -> None:
    acked = await opened(db, 1, next_in=HOUR)
    still_open = await opened(db, 2, next_in=HOUR)
    other_acked = await opened(db, 3, next_in=HOUR)
    later = NOW + HOUR
    async with db.transaction() as conn:
        for escalation_id in (acked, other_acked):
            await escalations.close(conn, escalation_id, state=ACKNOWLEDGED, by="ann", now=NOW)
        await escalations.mark_resolved(conn, 1, now=later)
        await escalations.mark_resolved(conn, 2, now=later)
        stamps = dict((await conn.execute(select(table.c.id, table.c.updated_at))).all())
    resolved = await row_of(db, acked)
    assert (resolved.state, resolved.closed_by, resolved.closed_at) == (RESOLVED, "ann", NOW)
    assert stamps[acked] == later
    assert (await row_of(db, still_open)).state == OPEN, "an open one is closed by a press"
    assert (await row_of(db, other_acked)).state == ACKNOWLEDGED
    assert stamps[other_acked] == NOW


async def test_erasure_ends_every_escalation_of_the_case_not_yet_resolved(db: Database) -> None:
    acked = await opened(db, 1, next_in=HOUR)
    async with db.transaction() as conn:
        await escalations.close(conn, acked, state=ACKNOWLEDGED, by="ann", now=NOW)
    open_one = await opened(db, 1, next_in=HOUR)
    resolved_earlier = await opened(db, 2, next_in=HOUR)
    async with db.transaction() as conn:
        await escalations.close(conn, resolved_earlier, state=RESOLVED, by="ann", now=NOW)
    other = await opened(db, 3, next_in=HOUR)
    later = NOW + HOUR
    async with db.transaction() as conn:
        await escalations.end_for_erasure(conn, 1, by="operator", now=later)
        await escalations.end_for_erasure(conn, 2, by="operator", now=later)
        stamps = dict((await conn.execute(select(table.c.id, table.c.updated_at))).all())
    for ended in (acked, open_one):
        row = await row_of(db, ended)
        assert (row.state, row.closed_by, row.closed_at, row.next_at) == (
            RESOLVED,
            "operator",
            later,
            None,
        )
        assert stamps[ended] == later
    kept = await row_of(db, resolved_earlier)
    assert (kept.closed_by, kept.closed_at, stamps[resolved_earlier]) == ("ann", NOW, NOW)
    assert (await row_of(db, other)).state == OPEN


async def test_the_timer_wakes_for_the_earliest_open_step_after_now(db: Database) -> None:
    async with db.transaction() as conn:
        assert await escalations.next_due(conn, NOW) is None
    await opened(db, 1, next_in=3 * HOUR)
    await opened(db, 2, next_in=2 * HOUR)
    closed = await opened(db, 3, next_in=HOUR)
    async with db.transaction() as conn:
        await escalations.close(conn, closed, state=ACKNOWLEDGED, by="op", now=NOW)
        assert await escalations.next_due(conn, NOW) == NOW + 2 * HOUR
        assert await escalations.next_due(conn, NOW + 2 * HOUR) == NOW + 3 * HOUR
        assert await escalations.next_due(conn, NOW + 3 * HOUR) is None


async def test_unacknowledged_cases_are_listed_oldest_first_with_their_count(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        assert await escalations.open_case_ids(conn, 5) == ([], 0)
    # opened in this order: 1, 4, 3; stored as 3, 1, 4; next step due 4, 3, 1
    await opened(db, 3, next_in=HOUR, at=NOW + 2 * HOUR)
    await opened(db, 1, next_in=5 * HOUR, at=NOW)
    await opened(db, 4, next_in=HOUR, at=NOW + HOUR)
    acked = await opened(db, 2, next_in=HOUR, at=NOW - HOUR)
    async with db.transaction() as conn:
        await escalations.close(conn, acked, state=ACKNOWLEDGED, by="op", now=NOW)
        assert await escalations.open_case_ids(conn, 5) == ([1, 4, 3], 3)
        assert await escalations.open_case_ids(conn, 2) == ([1, 4], 3)


async def test_alerts_are_kept_in_order_and_edited_in_place(db: Database) -> None:
    first = await opened(db, 1, next_in=HOUR)
    other = await opened(db, 2, next_in=HOUR)
    async with db.transaction() as conn:
        for level, (outbox_id, chat) in enumerate(((11, "C1"), (12, "C2"))):
            await escalations.add_alert(
                conn, first, level=level, outbox_id=outbox_id, platform="slack",
                chat_id=chat, text=f"alert {level}", now=NOW,
            )  # fmt: skip
        await escalations.add_alert(
            conn, other, level=0, outbox_id=13, platform="telegram", chat_id="-100",
            text="other", now=NOW,
        )  # fmt: skip
        kept = await escalations.alerts(conn, first)
        await escalations.set_alert_text(conn, kept[1].id, "alert 1, acknowledged by Ann")
        edited = await escalations.alerts(conn, first)
        others = await escalations.alerts(conn, other)
    assert [
        (a.escalation_id, a.level, a.outbox_id, a.platform, a.chat_id, a.text) for a in kept
    ] == [
        (first, 0, 11, "slack", "C1", "alert 0"),
        (first, 1, 12, "slack", "C2", "alert 1"),
    ]
    assert [a.text for a in edited] == ["alert 0", "alert 1, acknowledged by Ann"]
    assert [(a.outbox_id, a.text) for a in others] == [(13, "other")]


async def test_a_conversation_threads_under_the_first_alert_of_the_latest_escalation(
    db: Database,
) -> None:
    async with db.transaction() as conn:
        assert await escalations.first_alert_of_case(conn, 1) is None
    old = await opened(db, 1, next_in=HOUR)
    other = await opened(db, 2, next_in=HOUR)
    async with db.transaction() as conn:
        await escalations.add_alert(
            conn, other, level=0, outbox_id=1, platform="slack", chat_id="C9", text="2", now=NOW
        )
        await escalations.add_alert(
            conn, old, level=0, outbox_id=2, platform="slack", chat_id="C1", text="old", now=NOW
        )
        await escalations.close(conn, old, state=RESOLVED, by="op", now=NOW)
    new = await opened(db, 1, next_in=HOUR, at=NOW + HOUR)
    async with db.transaction() as conn:
        for level, chat in ((0, "C1"), (1, "C2")):
            await escalations.add_alert(
                conn, new, level=level, outbox_id=3 + level, platform="slack", chat_id=chat,
                text=f"new {level}", now=NOW + HOUR,
            )  # fmt: skip
        found = await escalations.first_alert_of_case(conn, 1)
        posted = await escalations.alerts(conn, new)
    assert found is not None and found == posted[0]
    assert (found.escalation_id, found.level, found.outbox_id, found.platform) == (
        new,
        0,
        3,
        "slack",
    )
    assert (found.chat_id, found.text) == ("C1", "new 0")


@pytest.mark.only_on("postgresql")
async def test_a_tick_passes_over_steps_another_instance_is_taking(db: Database) -> None:
    """Two instances' timers tick at once: the second steps what the first has not
    locked, at once, rather than waiting for the first to commit."""
    first, second = await opened(db, 1, next_in=HOUR), await opened(db, 2, next_in=2 * HOUR)
    later = NOW + 3 * HOUR
    async with db.transaction() as one:
        assert [row.id for row in await escalations.due(one, later, 1)] == [first]
        async with db.transaction() as other:
            await other.execute(text("SET LOCAL lock_timeout = '5s'"))
            assert [row.id for row in await escalations.due(other, later, 10)] == [second]
