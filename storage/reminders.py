"""Reminder rows and the victims' reminder settings.

States: `pending` (armed), `fired` (its message is in the outbox, awaiting an answer),
`done`, `dismissed` (not relevant) and `cancelled` (its item was skipped or left the
checklist). Every change that matters for "fires exactly once" is a conditional UPDATE,
so two processes sharing the database can never both act on one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    RowMapping,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.person_flags import set_flag
from storage.prepared import Prepared
from storage.schema import cases, reminder_prefs, reminders, talks

OPEN_STATES = ("pending", "fired")


@dataclass(frozen=True)
class NewReminder:
    case_id: int
    item_id: str
    follow_up: int
    mode: str
    urgent: bool
    remind_at: datetime
    fire_at: datetime


@dataclass(frozen=True)
class Reminder:
    id: int
    case_id: int
    item_id: str
    mode: str
    urgent: bool
    state: str
    remind_at: datetime
    fire_at: datetime
    rounds: int
    platform: str
    user_id: str
    locale: str


@dataclass(frozen=True)
class Fired:
    """A reminder just claimed for sending, with where and in which language to send it."""

    id: int
    case_id: int
    item_id: str
    mode: str
    rounds: int
    fire_at: datetime
    platform: str
    chat_id: str
    locale: str


@dataclass(frozen=True)
class Retimed:
    id: int
    urgent: bool
    fire_at: datetime


_JOINED = reminders.join(cases, cases.c.id == reminders.c.case_id)
_COLUMNS = (
    reminders.c.id,
    reminders.c.case_id,
    reminders.c.item_id,
    reminders.c.mode,
    reminders.c.urgent,
    reminders.c.state,
    reminders.c.remind_at,
    reminders.c.fire_at,
    reminders.c.rounds,
    cases.c.platform,
    cases.c.user_id,
    cases.c.locale,
)


# Built once: these run whenever a victim's turn touches a checklist item.
_INSERT = Prepared(insert(reminders))
_ITEMS_WITH_REMINDERS = Prepared(
    select(reminders.c.item_id).where(reminders.c.case_id == bindparam("case_key")).distinct()
)
_CLOSE_ITEM = Prepared(
    update(reminders)
    .where(
        reminders.c.case_id == bindparam("case_key"),
        reminders.c.item_id == bindparam("item_key"),
    )
    .where(
        reminders.c.mode == bindparam("mode_key"),
        # Inline: a list parameter would be compiled afresh on every run.
        reminders.c.state.in_([literal_column(f"'{state}'") for state in OPEN_STATES]),
    )
)
_QUIET_HOURS = Prepared(
    select(reminder_prefs.c.quiet_hours).where(
        reminder_prefs.c.platform == bindparam("platform"),
        reminder_prefs.c.user_id == bindparam("user_id"),
    )
)


def _reminder(row: RowMapping) -> Reminder:
    return Reminder(**row)


async def add(conn: AsyncConnection, new: Sequence[NewReminder], now: datetime) -> None:
    if not new:
        return
    await _INSERT.run_many(conn, [{**vars(r), "created_at": now, "updated_at": now} for r in new])


async def items_with_reminders(conn: AsyncConnection, case_id: int) -> frozenset[str]:
    rows = await _ITEMS_WITH_REMINDERS.rows(conn, {"case_key": case_id})
    return frozenset(item_id for (item_id,) in rows)


async def close_items(
    conn: AsyncConnection,
    case_id: int,
    item_ids: Iterable[str],
    *,
    mode: str,
    state: str,
    now: datetime,
) -> None:
    """End the open reminders of these items (done, skipped, removed from the checklist)."""
    await _CLOSE_ITEM.run_many(
        conn,
        [
            {
                "case_key": case_id,
                "item_key": item_id,
                "mode_key": mode,
                "state": state,
                "updated_at": now,
            }
            for item_id in item_ids
        ],
    )


def _waiting(*, hold_in_talk: bool) -> tuple[ColumnElement[bool], ...]:
    """Reminders that wait: those of paused cases, and with `hold_in_talk` those of cases
    a staff member is talking with."""
    paused = cases.c.status != "paused"
    if not hold_in_talk:
        return (paused,)
    in_talk = exists().where(talks.c.case_id == reminders.c.case_id, talks.c.state == "open")
    return paused, ~in_talk


async def claim_due(
    conn: AsyncConnection, now: datetime, limit: int, *, hold_in_talk: bool = False
) -> list[Fired]:
    """Mark up to `limit` due reminders fired and return them; the one place that fires.

    The UPDATE is the claim: it only touches rows still pending, so of two processes
    racing for a row exactly one gets it back. Reminders of paused cases wait, and with
    `hold_in_talk` so do those of cases in a conversation with a staff member.
    """
    due_ids = (
        select(reminders.c.id)
        .select_from(_JOINED)
        .where(reminders.c.state == "pending", reminders.c.fire_at <= now)
        .where(*_waiting(hold_in_talk=hold_in_talk))
        .order_by(reminders.c.fire_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=reminders)
    )
    # The ids are read first, not nested in the UPDATE: PostgreSQL may run a nested
    # `LIMIT … FOR UPDATE` again for each row and claim more than `limit`.
    ids = list((await conn.execute(due_ids)).scalars())
    if not ids:
        return []
    claimed = await conn.execute(
        update(reminders)
        .where(reminders.c.id.in_(ids), reminders.c.state == "pending")
        .values(state="fired", rounds=reminders.c.rounds + 1, fired_at=now, updated_at=now)
        .returning(
            reminders.c.id,
            reminders.c.case_id,
            reminders.c.item_id,
            reminders.c.mode,
            reminders.c.rounds,
            reminders.c.fire_at,
        )
    )
    rows = claimed.all()
    if not rows:
        return []
    places = await conn.execute(
        select(cases.c.id, cases.c.platform, cases.c.chat_id, cases.c.locale).where(
            cases.c.id.in_({row.case_id for row in rows})
        )
    )
    where = {place.id: place for place in places}
    return sorted(
        (
            Fired(
                id=row.id,
                case_id=row.case_id,
                item_id=row.item_id,
                mode=row.mode,
                rounds=row.rounds,
                fire_at=row.fire_at,
                platform=where[row.case_id].platform,
                chat_id=where[row.case_id].chat_id,
                locale=where[row.case_id].locale,
            )
            for row in rows
        ),
        key=lambda fired: (fired.fire_at, fired.id),
    )


async def cancel(conn: AsyncConnection, ids: Sequence[int], now: datetime) -> None:
    if ids:
        await conn.execute(
            update(reminders)
            .where(reminders.c.id.in_(ids))
            .values(state="cancelled", updated_at=now)
        )


async def next_fire_at(
    conn: AsyncConnection, after: datetime, *, hold_in_talk: bool = False
) -> datetime | None:
    """When the next pending reminder is due, later than `after`; those that wait (see
    `claim_due`) excluded."""
    query = (
        select(func.min(reminders.c.fire_at))
        .select_from(_JOINED)
        .where(reminders.c.state == "pending", reminders.c.fire_at > after)
        .where(*_waiting(hold_in_talk=hold_in_talk))
    )
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def count_pending(conn: AsyncConnection) -> int:
    query = select(func.count()).where(reminders.c.state == "pending")
    return int((await conn.execute(query)).scalar() or 0)


async def get(conn: AsyncConnection, reminder_id: int) -> Reminder | None:
    row = (
        (
            await conn.execute(
                select(*_COLUMNS).select_from(_JOINED).where(reminders.c.id == reminder_id)
            )
        )
        .mappings()
        .first()
    )
    return _reminder(row) if row else None


async def snooze(
    conn: AsyncConnection,
    reminder: Reminder,
    *,
    remind_at: datetime,
    fire_at: datetime,
    now: datetime,
) -> bool:
    """Arm again; False when the row changed meanwhile (fired again, or closed)."""
    result = await conn.execute(
        update(reminders)
        .where(reminders.c.id == reminder.id, reminders.c.rounds == reminder.rounds)
        .where(reminders.c.state.in_(OPEN_STATES))
        .values(state="pending", remind_at=remind_at, fire_at=fire_at, updated_at=now)
    )
    return bool(result.rowcount)


async def close(conn: AsyncConnection, reminder: Reminder, *, state: str, now: datetime) -> bool:
    result = await conn.execute(
        update(reminders)
        .where(reminders.c.id == reminder.id, reminders.c.rounds == reminder.rounds)
        .where(reminders.c.state.in_(OPEN_STATES))
        .values(state=state, updated_at=now)
    )
    return bool(result.rowcount)


async def dismiss_item(conn: AsyncConnection, reminder: Reminder, now: datetime) -> None:
    """Not relevant: every open reminder of the same item ends, not only this one."""
    await conn.execute(
        update(reminders)
        .where(reminders.c.case_id == reminder.case_id, reminders.c.item_id == reminder.item_id)
        .where(reminders.c.state.in_(OPEN_STATES))
        .values(state="dismissed", updated_at=now)
    )


async def pending_for_person(
    conn: AsyncConnection, platform: str, user_id: str, limit: int | None
) -> list[Reminder]:
    """A person's pending reminders over all their cases, soonest first."""
    rows = await conn.execute(
        select(*_COLUMNS)
        .select_from(_JOINED)
        .where(cases.c.platform == platform, cases.c.user_id == user_id)
        .where(reminders.c.state == "pending")
        .order_by(reminders.c.fire_at, reminders.c.id)
        .limit(limit)
    )
    return [_reminder(row) for row in rows.mappings()]


async def pending_of_case(conn: AsyncConnection, case_id: int) -> list[Reminder]:
    rows = await conn.execute(
        select(*_COLUMNS)
        .select_from(_JOINED)
        .where(reminders.c.case_id == case_id, reminders.c.state == "pending")
    )
    return [_reminder(row) for row in rows.mappings()]


async def retime(conn: AsyncConnection, changes: Sequence[Retimed], now: datetime) -> None:
    """New delivery times after quiet hours or urgency changed; still-pending rows only."""
    if not changes:
        return
    await conn.execute(
        update(reminders)
        .where(reminders.c.id == bindparam("row_id"), reminders.c.state == "pending")
        .values(urgent=bindparam("new_urgent"), fire_at=bindparam("new_fire_at"), updated_at=now),
        [{"row_id": c.id, "new_urgent": c.urgent, "new_fire_at": c.fire_at} for c in changes],
    )


async def quiet_hours(conn: AsyncConnection, platform: str, user_id: str) -> bool | None:
    """The person's own switch, or None when they never touched it."""
    found = await _QUIET_HOURS.rows(conn, {"platform": platform, "user_id": user_id})
    return bool(found[0][0]) if found else None


async def set_quiet_hours(
    conn: AsyncConnection, platform: str, user_id: str, *, on: bool, now: datetime
) -> None:
    await set_flag(conn, reminder_prefs, "quiet_hours", platform, user_id, on=on, now=now)


async def person_locale(conn: AsyncConnection, platform: str, user_id: str) -> str | None:
    """The language of the person's latest case, for answers given outside any case."""
    query = (
        select(cases.c.locale)
        .where(cases.c.platform == platform, cases.c.user_id == user_id)
        .order_by(cases.c.id.desc())
        .limit(1)
    )
    found: str | None = (await conn.execute(query)).scalar()
    return found
