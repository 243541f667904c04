"""Outbox rows: every outbound message is a row before it is a network call."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from storage.prepared import Prepared
from storage.schema import outbox

ERROR_CHARS = 500

# Built once: these run for every message, and building a statement costs more than
# running it (SQLAlchemy caches the compiled form, not the construction).
_INSERT = Prepared(insert(outbox))
# The newest row when a sender's pass begins: the pass sends none queued after it.
_NEWEST = select(func.max(outbox.alias("newest").c.id)).scalar_subquery()


def _due_statement(up_to: ColumnElement[Any]) -> Select[Any]:
    """Pending rows for one adapter that may go now, oldest first, up to a row id (given
    back as ``horizon``).

    A row waits while an earlier row to the same chat is still waiting for its retry
    time: that is what keeps each chat's messages in order across failures.
    """
    now = bindparam("now", type_=outbox.c.not_before.type)
    ready = or_(outbox.c.not_before.is_(None), outbox.c.not_before <= now)
    earlier = aliased(outbox)
    earlier_waiting = exists().where(
        earlier.c.platform == outbox.c.platform,
        earlier.c.chat_id == outbox.c.chat_id,
        earlier.c.state == "pending",
        earlier.c.id < outbox.c.id,
        earlier.c.not_before > now,
    )
    return (
        select(outbox, up_to.label("horizon"))
        .where(outbox.c.state == "pending", outbox.c.platform == bindparam("platform"))
        .where(outbox.c.id <= up_to)
        .where(ready, ~earlier_waiting)
        .order_by(outbox.c.id)
        .limit(bindparam("limit", type_=Integer))
    )


# Up to a given row, or (a pass's first read) up to the newest: the horizon comes with
# the rows rather than costing a statement of its own.
_DUE_FORMS = {
    True: _due_statement(bindparam("up_to", type_=Integer)),
    False: _due_statement(_NEWEST),
}
_DUE = {bounded: Prepared(form) for bounded, form in _DUE_FORMS.items()}
# The same, passing over chats the sender cannot send to now (their rate budget is spent),
# so that one busy chat never hides the rows of every other behind it.
_DUE_SKIPPING = {
    bounded: form.where(outbox.c.chat_id.not_in(bindparam("skip", expanding=True)))
    for bounded, form in _DUE_FORMS.items()
}


@dataclass(frozen=True)
class OutboxRow:
    id: int
    platform: str
    chat_id: str
    payload: Mapping[str, Any]
    attempts: int
    case_id: int | None


@dataclass(frozen=True)
class NewMessage:
    platform: str
    chat_id: str
    payload: Mapping[str, Any]
    case_id: int | None


async def enqueue(
    conn: AsyncConnection,
    *,
    platform: str,
    chat_id: str,
    payload: Mapping[str, Any],
    case_id: int | None,
    now: datetime,
) -> int:
    return await _INSERT.insert(
        conn,
        {
            "platform": platform,
            "chat_id": chat_id,
            "payload": json.dumps(payload, ensure_ascii=False),
            "case_id": case_id,
            "created_at": now,
        },
    )


async def enqueue_many(
    conn: AsyncConnection, messages: Sequence[NewMessage], now: datetime
) -> None:
    """Queue many messages in one statement (reminders falling due together)."""
    if not messages:
        return
    await _INSERT.run_many(
        conn,
        [
            {
                "platform": m.platform,
                "chat_id": m.chat_id,
                "payload": json.dumps(m.payload, ensure_ascii=False),
                "case_id": m.case_id,
                "created_at": now,
            }
            for m in messages
        ],
    )


@dataclass(frozen=True)
class Due:
    rows: Sequence[OutboxRow]
    horizon: int | None  # the row id the read went up to (None: it found no row)


async def due(
    conn: AsyncConnection,
    platform: str,
    now: datetime,
    limit: int,
    *,
    up_to: int | None,
    skip: Collection[str] = (),
) -> Due:
    """Pending rows for one adapter that may go now, oldest first (see _due_statement),
    none after row ``up_to`` (None: after the newest row), leaving out the chats in
    ``skip``."""
    bounded = up_to is not None
    params: dict[str, Any] = {"platform": platform, "now": now, "limit": limit}
    if bounded:
        params["up_to"] = up_to
    if skip:
        found = await conn.execute(_DUE_SKIPPING[bounded], {**params, "skip": sorted(skip)})
        rows: Sequence[Mapping[Any, Any]] = found.mappings().all()
    else:
        rows = await _DUE[bounded].mappings(conn, params)
    return Due([_outbox_row(row) for row in rows], rows[0]["horizon"] if rows else None)


def _outbox_row(row: Mapping[Any, Any]) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        platform=row["platform"],
        chat_id=row["chat_id"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        case_id=row["case_id"],
    )


# A row dropped meanwhile (its case erased while the message was on its way) went out
# all the same: it becomes sent, text still blank, so its platform id still routes a staff
# reply to the case and lets a later edit replace the message rather than repeat it.
_MARK_SENT = Prepared(
    update(outbox)
    .where(
        outbox.c.id == bindparam("row_id"),
        or_(outbox.c.state == "pending", outbox.c.state == "dropped"),
    )
    .values(state="sent", sent_at=bindparam("at"), platform_message_id=bindparam("message"))
)


async def mark_sent_many(conn: AsyncConnection, sent: Sequence[tuple[int, str, datetime]]) -> None:
    """Record deliveries: (row id, the platform's message id, when it was sent)."""
    await _MARK_SENT.run_many(
        conn,
        [{"row_id": row_id, "message": message, "at": at} for row_id, message, at in sent],
    )


async def platform_message_id(conn: AsyncConnection, row_id: int) -> str:
    """The platform's id for a sent row; "" while it is unsent or dead."""
    query = select(outbox.c.platform_message_id).where(
        outbox.c.id == row_id, outbox.c.state == "sent"
    )
    return str((await conn.execute(query)).scalar() or "")


async def mark_failed(
    conn: AsyncConnection, row_id: int, *, error: str, retry_at: datetime | None, now: datetime
) -> None:
    """Count a failed attempt; with no retry time left the row becomes a dead letter."""
    values: dict[str, Any] = {"attempts": outbox.c.attempts + 1, "last_error": error[:ERROR_CHARS]}
    if retry_at is None:
        values.update(state="dead", dead_at=now)
    else:
        values["not_before"] = retry_at
    await conn.execute(update(outbox).where(outbox.c.id == row_id).values(**values))


async def postpone(conn: AsyncConnection, row_id: int, *, error: str, until: datetime) -> None:
    """The platform asked to wait: try again then, without counting an attempt."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.id == row_id)
        .values(not_before=until, last_error=error[:ERROR_CHARS])
    )


async def requeue_dead(conn: AsyncConnection) -> int:
    """Dead letters back to pending, due at once with a fresh set of attempts; returns
    how many."""
    result = await conn.execute(
        update(outbox)
        .where(outbox.c.state == "dead")
        .values(state="pending", attempts=0, not_before=None, dead_at=None)
    )
    return int(result.rowcount)


async def file_rows(conn: AsyncConnection) -> list[tuple[str, str, str]]:
    """Each row that carries a file: the file's path, the row's state and platform."""
    query = select(outbox.c.payload, outbox.c.state, outbox.c.platform).where(
        outbox.c.payload.contains('"file"')
    )
    found = []
    for payload, state, platform in await conn.execute(query):
        file = json.loads(payload).get("file")
        if file:
            found.append((str(file["path"]), state, platform))
    return found


async def counts(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state))
    return {state: int(count) for state, count in rows.all()}


async def case_of_sent(
    conn: AsyncConnection, platform: str, chat_id: str, message_id: str
) -> int | None:
    """The case of the message the platform calls `message_id` in that chat (what a staff
    member's reply answers); None when Haven sent no such message about a case."""
    query = (
        select(outbox.c.case_id)
        .where(
            outbox.c.platform == platform,
            outbox.c.chat_id == chat_id,
            outbox.c.platform_message_id == message_id,
            outbox.c.case_id.is_not(None),
        )
        .limit(1)
    )
    found = (await conn.execute(query)).scalar()
    return None if found is None else int(found)
