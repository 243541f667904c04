"""Rows of Web Push: each browser's subscription for a web chat, and the notification
owed to it (schema.web_push_subscriptions says how `due_at` works).

A notification is owed in the transaction that posts the message, so it survives a
crash between the two; a sender claims it for a lease before calling the push service,
so another instance (or the next run, once the lease is over) sends it if this one
cannot, and a notification owed again while one is on its way is not lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import cases, web_push_subscriptions

_subs = web_push_subscriptions
PLATFORM = "web"


@dataclass(frozen=True)
class PushSubscription:
    """A subscription as the browser gave it. Its fields are personal data: no repr."""

    endpoint: str = field(repr=False)
    p256dh: str = field(repr=False)
    auth: str = field(repr=False)
    locale: str


@dataclass(frozen=True)
class OwedPush:
    """A notification claimed for sending, until `claimed_until`."""

    id: int
    subscription: PushSubscription
    attempts: int
    claimed_until: datetime


async def subscribe(
    conn: AsyncConnection, chat_id: str, subscription: PushSubscription, now: datetime
) -> None:
    """Keep a browser's subscription for the chat; one for the same endpoint must be
    unsubscribed first (the same browser subscribing again, with new keys)."""
    await conn.execute(
        insert(_subs).values(
            chat_id=chat_id,
            endpoint=subscription.endpoint,
            p256dh=subscription.p256dh,
            auth=subscription.auth,
            locale=subscription.locale,
            created_at=now,
        )
    )


async def unsubscribe(conn: AsyncConnection, chat_id: str, endpoint: str) -> int:
    done = await conn.execute(
        delete(_subs).where(_subs.c.chat_id == chat_id, _subs.c.endpoint == endpoint)
    )
    return done.rowcount or 0


async def count(conn: AsyncConnection, chat_id: str) -> int:
    query = select(func.count()).select_from(_subs).where(_subs.c.chat_id == chat_id)
    return int((await conn.execute(query)).scalar() or 0)


async def owe(conn: AsyncConnection, chat_id: str, now: datetime) -> int:
    """A notification is owed to every subscription of the chat that owes none yet."""
    done = await conn.execute(
        update(_subs)
        .where(_subs.c.chat_id == chat_id, _subs.c.due_at.is_(None))
        .values(due_at=now, attempts=0)
    )
    return done.rowcount or 0


async def claim(
    conn: AsyncConnection, now: datetime, until: datetime, limit: int
) -> list[OwedPush]:
    """The notifications due by `now`, each claimed until `until`: one that another
    sender claimed in the meantime is left to it."""
    query = (
        select(_subs)
        .where(_subs.c.due_at.is_not(None), _subs.c.due_at <= now)
        .order_by(_subs.c.due_at)
        .limit(limit)
    )
    claimed = []
    for row in (await conn.execute(query)).mappings().all():
        taken = await conn.execute(
            update(_subs)
            .where(_subs.c.id == row["id"], _subs.c.due_at == row["due_at"])
            .values(due_at=until)
        )
        if taken.rowcount != 1:
            continue
        subscription = PushSubscription(
            str(row["endpoint"]), str(row["p256dh"]), str(row["auth"]), str(row["locale"])
        )
        claimed.append(OwedPush(int(row["id"]), subscription, int(row["attempts"]), until))
    return claimed


async def sent(conn: AsyncConnection, push_id: int, claimed_until: datetime) -> None:
    """The push service took it (or it was given up): nothing is owed, unless more was
    owed meanwhile (the lease ran out and another sender has it)."""
    await conn.execute(
        update(_subs)
        .where(_subs.c.id == push_id, _subs.c.due_at == claimed_until)
        .values(due_at=None, attempts=0)
    )


async def retry(
    conn: AsyncConnection, push_id: int, claimed_until: datetime, attempts: int, at: datetime
) -> None:
    """Owed again at `at`, after `attempts` failed tries."""
    await conn.execute(
        update(_subs)
        .where(_subs.c.id == push_id, _subs.c.due_at == claimed_until)
        .values(due_at=at, attempts=attempts)
    )


async def gone(conn: AsyncConnection, subscription_id: int) -> None:
    """The push service no longer knows the subscription (404, 410): forget it."""
    await conn.execute(delete(_subs).where(_subs.c.id == subscription_id))


async def next_due(conn: AsyncConnection) -> datetime | None:
    query = select(func.min(_subs.c.due_at))
    found: datetime | None = (await conn.execute(query)).scalar()
    return found


async def forget_case(conn: AsyncConnection, case_id: int) -> int:
    """Delete the subscriptions of the web chat case ``case_id`` was opened in."""
    chat = select(cases.c.chat_id).where(cases.c.id == case_id, cases.c.platform == PLATFORM)
    done = await conn.execute(delete(_subs).where(_subs.c.chat_id.in_(chat)))
    return done.rowcount or 0
