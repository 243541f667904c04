"""`haven retention`: erase cases closed longer than ``retention.closed_case_days``.

Cases on legal hold are listed but kept; erased cases are not listed again. Each erasure
is the ordinary one (bot/evidence/erasure.py), with a custody event naming the retention rule.

It also removes leftover blob files: a file is sealed and written before the
transaction that names it, so a crash or a failed commit in between leaves an encrypted
file that no item names and nobody was given a receipt for (and a crash in the middle of
a write, a temporary file). Only those older than LEFTOVER_AGE go: a running bot writes
each file a moment before its row commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select

from bot.evidence import erasure
from bot.evidence.store import OPERATOR, Store
from storage import evidence_items
from storage.schema import case_keys, cases, holds

LEFTOVER_AGE = timedelta(hours=1)


@dataclass(frozen=True)
class Due:
    case_id: int
    closed_at: datetime
    held: bool


async def due(store: Store) -> list[Due]:
    """Closed cases past the retention period, not yet erased, oldest first."""
    cutoff = store.clock.now() - timedelta(days=store.config.retention.closed_case_days)
    erased = select(case_keys.c.case_id).where(case_keys.c.erased_at.is_not(None))
    on_hold = select(holds.c.case_id).where(holds.c.released_at.is_(None))
    query = (
        select(cases.c.id, cases.c.closed_at, cases.c.id.in_(on_hold).label("held"))
        .where(
            and_(
                cases.c.status == "closed",
                cases.c.closed_at.is_not(None),
                cases.c.closed_at < cutoff,
                cases.c.id.not_in(erased),
            )
        )
        .order_by(cases.c.closed_at, cases.c.id)
    )
    async with store.db.transaction() as conn:
        rows = (await conn.execute(query)).mappings().all()
    return [Due(row["id"], row["closed_at"], bool(row["held"])) for row in rows]


async def apply(store: Store) -> tuple[list[Due], list[Due]]:
    """Erase every due case not on hold: (erased, kept because held)."""
    days = store.config.retention.closed_case_days
    done, kept = [], []
    for case in await due(store):
        if case.held:
            kept.append(case)
            continue
        reason = f"retention: closed more than {days} days ago"
        await erasure.erase(store, case.case_id, actor=OPERATOR, reason=reason)
        done.append(case)
    return done, kept


async def leftover_blobs(store: Store) -> list[str]:
    """Blobs no item needs (see the module's docstring)."""
    async with store.db.transaction() as conn:
        named = await evidence_items.blob_addresses(conn)
    before = (store.clock.now() - LEFTOVER_AGE).timestamp()
    return await store.blobs.aleftovers(named, before)


async def remove_leftover_blobs(store: Store) -> int:
    """Delete them; how many."""
    return await store.blobs.adiscard(await leftover_blobs(store))
