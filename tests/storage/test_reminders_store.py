"""The reminder rows as the scheduler and the victim's buttons rely on them: which are due
and may be claimed (once), which wait, which a press may move or end, and whose they are.

Each query is checked against rows of other cases, items and states around it, since a
condition left out would show only next to a row it should have excluded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import cases, reminders, talks
from storage.database import Database
from storage.reminders import Fired, NewReminder, Reminder, Retimed
from storage.schema import cases as cases_table
from storage.schema import reminders as table
from tests.backends import Backend

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
LATER = NOW + 5 * HOUR  # when the tests act on the rows


@pytest.fixture
async def db(tmp_path: Path, backend: Backend) -> AsyncIterator[Database]:
    """Cases 1 (closed, in English) and 2 (in French) of one person, u1 writing from chat
    c1; case 3 of u3 and case 4 of u2 on another platform; no reminders yet."""
    async with backend.migrated(tmp_path / "haven.db") as database:
        people = (("memory", "u1", "c1", "en"), ("memory", "u1", "c1", "fr"))
        people += (("memory", "u3", "c3", "de"), ("web", "u2", "c2", "zh"))
        async with database.transaction() as conn:
            for platform, user_id, chat_id, locale in people:
                await cases.create(
                    conn,
                    platform=platform,
                    user_id=user_id,
                    chat_id=chat_id,
                    locale=locale,
                    now=NOW,
                )
                if locale == "en":  # one open case per person: the first is over
                    await conn.execute(
                        update(cases_table).where(cases_table.c.id == 1).values(status="closed")
                    )
        yield database


def new(
    case_id: int, item_id: str, *, due_in: timedelta, follow_up: int = 0, mode: str = "due"
) -> NewReminder:
    return NewReminder(
        case_id=case_id,
        item_id=item_id,
        follow_up=follow_up,
        mode=mode,
        urgent=follow_up == 1,
        remind_at=NOW + due_in - timedelta(minutes=5),
        fire_at=NOW + due_in,
    )


async def added(db: Database, *rows: NewReminder) -> list[int]:
    async with db.transaction() as conn:
        await reminders.add(conn, rows, NOW)
        ids = (await conn.execute(select(table.c.id).order_by(table.c.id))).scalars()
    return list(ids)[-len(rows) :]


async def state_of(db: Database, *ids: int) -> list[str]:
    async with db.transaction() as conn:
        rows = await conn.execute(select(table.c.id, table.c.state).where(table.c.id.in_(ids)))
        by_id = {row_id: state for row_id, state in rows}
    return [by_id[i] for i in ids]


async def updated_at(db: Database, reminder_id: int) -> datetime:
    async with db.transaction() as conn:
        found = await reminders.get(conn, reminder_id)
        stamp = (
            await conn.execute(select(table.c.updated_at).where(table.c.id == reminder_id))
        ).scalar_one()
    assert found is not None
    return stamp  # type: ignore[no-any-return]


async def claim(
    db: Database, limit: int = 10, *, at: datetime = LATER, hold_in_talk: bool = False
) -> list[Fired]:
    async with db.transaction() as conn:
        return await reminders.claim_due(conn, at, limit, hold_in_talk=hold_in_talk)


async def set_status(db: Database, case_id: int, status: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(cases_table).where(cases_table.c.id == case_id).values(status=status)
        )


async def test_an_added_reminder_reads_back_with_its_persons_place(db: Database) -> None:
    async with db.transaction() as conn:
        assert await reminders.count_pending(conn) == 0
    (first, second) = await added(db, new(4, "report", due_in=HOUR), new(1, "x", due_in=HOUR))
    async with db.transaction() as conn:
        await reminders.add(conn, [], NOW)  # nothing to add: no statement, no error
        found = await reminders.get(conn, first)
        assert await reminders.get(conn, 999) is None
        assert await reminders.count_pending(conn) == 2
    assert found == Reminder(
        id=first,
        case_id=4,
        item_id="report",
        mode="due",
        urgent=False,
        state="pending",
        remind_at=NOW + HOUR - timedelta(minutes=5),
        fire_at=NOW + HOUR,
        rounds=0,
        platform="web",
        user_id="u2",
        locale="zh",
    )
    assert second != first


async def test_items_with_reminders_are_the_cases_own_once_each(db: Database) -> None:
    await added(
        db,
        new(1, "a", due_in=HOUR),
        new(1, "a", due_in=HOUR, follow_up=1),
        new(1, "b", due_in=HOUR),
        new(2, "c", due_in=HOUR),
    )
    async with db.transaction() as conn:
        assert await reminders.items_with_reminders(conn, 1) == {"a", "b"}
        assert await reminders.items_with_reminders(conn, 3) == frozenset()


async def test_closing_items_ends_the_open_reminders_of_those_items_in_that_mode(
    db: Database,
) -> None:
    ids = await added(
        db,
        new(1, "a", due_in=HOUR),  # closed
        new(1, "a", due_in=-HOUR, follow_up=1),  # fired, closed too
        new(1, "a", due_in=HOUR, follow_up=2, mode="other"),  # another mode
        new(1, "b", due_in=HOUR),  # another item
        new(2, "a", due_in=HOUR),  # another case
        new(1, "c", due_in=HOUR),  # closed
    )
    assert len(await claim(db, at=NOW)) == 1  # the overdue follow-up is now fired
    async with db.transaction() as conn:
        await reminders.close_items(conn, 1, ["a", "c"], mode="due", state="cancelled", now=LATER)
    assert await state_of(db, *ids) == [
        "cancelled",
        "cancelled",
        "pending",
        "pending",
        "pending",
        "cancelled",
    ]
    assert await updated_at(db, ids[0]) == LATER
    assert await updated_at(db, ids[2]) == NOW


async def test_claiming_takes_what_is_due_once_marks_it_fired_and_says_where(
    db: Database,
) -> None:
    ids = await added(
        db,
        new(4, "late", due_in=2 * HOUR),
        new(1, "early", due_in=HOUR),
        new(2, "exactly_now", due_in=5 * HOUR),  # fire_at == LATER: due
        new(1, "not_yet", due_in=5 * HOUR + timedelta(seconds=1)),
    )
    fired = await claim(db)
    assert fired == [
        Fired(ids[1], 1, "early", "due", 1, NOW + HOUR, "memory", "c1", "en"),
        Fired(ids[0], 4, "late", "due", 1, NOW + 2 * HOUR, "web", "c2", "zh"),
        Fired(ids[2], 2, "exactly_now", "due", 1, NOW + 5 * HOUR, "memory", "c1", "fr"),
    ]
    assert await state_of(db, *ids) == ["fired", "fired", "fired", "pending"]
    async with db.transaction() as conn:
        fired_at = await conn.execute(
            select(table.c.fired_at, table.c.updated_at).where(table.c.id == ids[0])
        )
        assert fired_at.one() == (LATER, LATER)
    assert await claim(db) == [], "a fired reminder is never claimed again"


async def test_claiming_by_batches_takes_the_earliest_first(db: Database) -> None:
    ids = await added(
        db,
        new(1, "third", due_in=3 * HOUR),
        new(1, "first", due_in=HOUR),
        new(1, "second", due_in=2 * HOUR),
    )
    assert [f.id for f in await claim(db, limit=2)] == [ids[1], ids[2]]
    assert [f.id for f in await claim(db, limit=2)] == [ids[0]]


async def test_a_snoozed_reminder_is_claimed_again_with_one_more_round(db: Database) -> None:
    (reminder_id,) = await added(db, new(1, "a", due_in=HOUR))
    (fired,) = await claim(db, at=NOW + HOUR)
    async with db.transaction() as conn:
        row = await reminders.get(conn, reminder_id)
        assert row is not None and row.rounds == 1 == fired.rounds
        moved = await reminders.snooze(conn, row, remind_at=NOW, fire_at=NOW + 2 * HOUR, now=LATER)
        snoozed = await reminders.get(conn, reminder_id)
    assert moved and snoozed is not None
    assert (snoozed.state, snoozed.remind_at, snoozed.fire_at) == ("pending", NOW, NOW + 2 * HOUR)
    assert await updated_at(db, reminder_id) == LATER
    (again,) = await claim(db)
    assert (again.rounds, again.fire_at) == (2, NOW + 2 * HOUR)


async def test_reminders_of_paused_cases_wait_and_in_talk_ones_wait_when_asked(
    db: Database,
) -> None:
    ids = await added(
        db,
        new(1, "plain", due_in=HOUR),
        new(2, "paused_case", due_in=HOUR),
        new(3, "in_talk", due_in=HOUR),
        new(4, "talk_ended", due_in=HOUR),
    )
    await set_status(db, 2, "paused")
    async with db.transaction() as conn:
        await talks.start(conn, 3, staff="memory:op", display_name="Op", now=NOW)
        ended = await talks.start(conn, 4, staff="memory:op", display_name="Op", now=NOW)
        assert ended is not None
        await talks.end(conn, ended.id, by="memory:op", now=NOW)
        # What waits is not "next": the next one due is the first that would be claimed.
        assert await reminders.next_fire_at(conn, NOW, hold_in_talk=True) == NOW + HOUR
    assert {f.id for f in await claim(db, hold_in_talk=True)} == {ids[0], ids[3]}
    async with db.transaction() as conn:
        unheld = await reminders.claim_due(conn, LATER, 10)  # the default: no hold
    assert [f.id for f in unheld] == [ids[2]], "without the hold, a talk waits not"
    assert await state_of(db, ids[1]) == ["pending"]


async def test_the_next_fire_time_skips_what_waits_and_what_is_not_pending(
    db: Database,
) -> None:
    ids = await added(
        db,
        new(2, "paused", due_in=HOUR),
        new(3, "in_talk", due_in=2 * HOUR),
        new(1, "cancelled", due_in=3 * HOUR),
        new(1, "open", due_in=4 * HOUR),
        new(1, "past", due_in=-HOUR),
    )
    await set_status(db, 2, "paused")
    async with db.transaction() as conn:
        await talks.start(conn, 3, staff="memory:op", display_name="Op", now=NOW)
        await reminders.cancel(conn, [ids[2]], LATER)
        await reminders.cancel(conn, [], NOW)
        assert await reminders.next_fire_at(conn, NOW, hold_in_talk=True) == NOW + 4 * HOUR
        assert await reminders.next_fire_at(conn, NOW) == NOW + 2 * HOUR
        assert await reminders.next_fire_at(conn, NOW + 4 * HOUR) is None, "strictly later"
        assert await reminders.count_pending(conn) == 4
    assert await state_of(db, *ids) == ["pending", "pending", "cancelled", "pending", "pending"]
    assert await updated_at(db, ids[2]) == LATER


async def test_snooze_and_close_act_only_on_the_round_the_press_was_for(db: Database) -> None:
    first, second, third = await added(
        db, new(1, "a", due_in=HOUR), new(1, "b", due_in=HOUR), new(1, "c", due_in=HOUR)
    )
    await claim(db, at=NOW + HOUR)
    async with db.transaction() as conn:
        pressed = [await reminders.get(conn, i) for i in (first, second, third)]
    a, b, c = (r for r in pressed if r is not None)
    async with db.transaction() as conn:
        assert await reminders.close(conn, a, state="done", now=LATER)
        assert not await reminders.close(conn, a, state="done", now=LATER), "closed already"
        assert not await reminders.snooze(conn, a, remind_at=NOW, fire_at=LATER, now=LATER)
        assert await reminders.snooze(conn, b, remind_at=NOW, fire_at=LATER, now=LATER)
    (refired,) = await claim(db)  # b fires again: round 2
    assert refired.id == second
    async with db.transaction() as conn:
        stale = b  # the press on round 1's message
        assert not await reminders.close(conn, stale, state="done", now=LATER)
        assert not await reminders.snooze(conn, stale, remind_at=NOW, fire_at=LATER, now=LATER)
        assert await reminders.close(conn, c, state="dismissed", now=LATER)
    assert await state_of(db, first, second, third) == ["done", "fired", "dismissed"]
    assert await updated_at(db, first) == LATER


async def test_dismissing_ends_every_open_reminder_of_that_item_of_that_case(
    db: Database,
) -> None:
    ids = await added(
        db,
        new(1, "a", due_in=HOUR),
        new(1, "a", due_in=2 * HOUR, follow_up=1),
        new(1, "a", due_in=3 * HOUR, follow_up=2),
        new(1, "b", due_in=HOUR),
        new(2, "a", due_in=HOUR),
    )
    async with db.transaction() as conn:
        third = await reminders.get(conn, ids[2])
        assert third is not None
        await reminders.close(conn, third, state="done", now=NOW)
        first = await reminders.get(conn, ids[0])
        assert first is not None
        await reminders.dismiss_item(conn, first, LATER)
    assert await state_of(db, *ids) == ["dismissed", "dismissed", "done", "pending", "pending"]
    assert await updated_at(db, ids[1]) == LATER


async def test_a_persons_pending_reminders_span_their_cases_soonest_first(db: Database) -> None:
    ids = await added(
        db,
        new(2, "later", due_in=2 * HOUR),
        new(1, "sooner", due_in=HOUR),
        new(2, "tie_second", due_in=2 * HOUR),
        new(3, "someone_else", due_in=HOUR),
        new(4, "another_platform", due_in=HOUR),
        new(1, "done", due_in=-HOUR),
    )
    assert len(await claim(db, at=NOW)) == 1  # "done" fires: no longer pending
    async with db.transaction() as conn:
        mine = await reminders.pending_for_person(conn, "memory", "u1", None)
        two = await reminders.pending_for_person(conn, "memory", "u1", 2)
        elsewhere = await reminders.pending_for_person(conn, "memory", "u2", None)
        theirs = await reminders.pending_for_person(conn, "web", "u2", None)
        of_case = await reminders.pending_of_case(conn, 1)
    assert [r.id for r in mine] == [ids[1], ids[0], ids[2]]
    assert [r.id for r in two] == [ids[1], ids[0]]
    assert elsewhere == [], "u2 writes from another platform"
    assert [r.item_id for r in theirs] == ["another_platform"]
    assert [(r.id, r.item_id, r.platform) for r in of_case] == [(ids[1], "sooner", "memory")]


async def test_retiming_moves_only_pending_rows(db: Database) -> None:
    ids = await added(
        db, new(1, "a", due_in=HOUR), new(1, "b", due_in=-HOUR), new(1, "c", due_in=HOUR)
    )
    assert len(await claim(db, at=NOW)) == 1  # b is fired
    async with db.transaction() as conn:
        await reminders.retime(conn, [], LATER)
        await reminders.retime(
            conn,
            [Retimed(ids[0], True, NOW + 9 * HOUR), Retimed(ids[1], True, NOW + 9 * HOUR)],
            LATER,
        )
        moved, kept, other = [await reminders.get(conn, i) for i in ids]
    assert moved is not None and kept is not None and other is not None
    assert (moved.urgent, moved.fire_at) == (True, NOW + 9 * HOUR)
    assert (kept.urgent, kept.fire_at) == (False, NOW - HOUR)
    assert (other.urgent, other.fire_at) == (False, NOW + HOUR), "not among the changes"
    assert await updated_at(db, ids[0]) == LATER


async def test_quiet_hours_are_each_persons_own_switch(db: Database) -> None:
    async with db.transaction() as conn:
        assert await reminders.quiet_hours(conn, "memory", "u1") is None
        await reminders.set_quiet_hours(conn, "memory", "u1", on=True, now=NOW)
        await reminders.set_quiet_hours(conn, "web", "u2", on=False, now=NOW)
        assert await reminders.quiet_hours(conn, "memory", "u1") is True
        assert await reminders.quiet_hours(conn, "web", "u2") is False
        assert await reminders.quiet_hours(conn, "web", "u1") is None
        await reminders.set_quiet_hours(conn, "memory", "u1", on=False, now=NOW)
        assert await reminders.quiet_hours(conn, "memory", "u1") is False


async def test_a_persons_language_is_that_of_their_latest_case(db: Database) -> None:
    async with db.transaction() as conn:
        assert await reminders.person_locale(conn, "memory", "u1") == "fr"
        assert await reminders.person_locale(conn, "web", "u2") == "zh"
        assert await reminders.person_locale(conn, "memory", "u2") is None


# ---- several instances claiming at once (PostgreSQL's row locks) ------------------------


async def no_waiting(conn: AsyncConnection) -> None:
    """Make this transaction fail rather than wait for another's row lock: a claim that
    waited would hold up every other due reminder behind one busy row."""
    await conn.execute(text("SET LOCAL lock_timeout = '5s'"))


@pytest.mark.only_on("postgresql")
async def test_a_claim_passes_over_rows_another_instance_is_claiming(db: Database) -> None:
    ids = await added(db, new(1, "first", due_in=HOUR), new(2, "second", due_in=2 * HOUR))
    async with db.transaction() as first:
        taken = await reminders.claim_due(first, LATER, 1)
        assert [f.id for f in taken] == [ids[0]]
        async with db.transaction() as second:
            await no_waiting(second)
            assert [f.id for f in await reminders.claim_due(second, LATER, 10)] == [ids[1]]


@pytest.mark.only_on("postgresql")
async def test_a_claim_is_not_held_back_by_a_conversation_writing_the_case(
    db: Database,
) -> None:
    """A victim's turn holds their case row for the length of its transaction; their
    reminders are still claimed meanwhile (the claim locks reminder rows only)."""
    ids = await added(db, new(2, "due", due_in=HOUR))
    async with db.transaction() as turn:
        await turn.execute(
            update(cases_table).where(cases_table.c.id == 2).values(updated_at=LATER)
        )
        async with db.transaction() as claimer:
            await no_waiting(claimer)
            assert [f.id for f in await reminders.claim_due(claimer, LATER, 10)] == ids
