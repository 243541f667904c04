"""Retention: erase cases closed longer than ``retention.closed_case_days``.

`haven run` does it once a day (:class:`RetentionRounds`, a duty of the reminder
scheduler, just before the daily briefing, which reports it); `haven retention` does it
on demand. Cases on legal hold are listed but kept; erased cases are not listed again. Each erasure
is the ordinary one (bot/evidence/erasure.py), with a custody event naming the retention rule.

It also removes leftover blob files: a file is sealed and written before the
transaction that names it, so a crash or a failed commit in between leaves an encrypted
file that no item names and nobody was given a receipt for (and a crash in the middle of
a write, a temporary file). Only those older than LEFTOVER_AGE go: a running bot writes
each file a moment before its row commits.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.evidence import erasure
from bot.evidence.store import OPERATOR, OperatorError, Store
from storage import evidence_items
from storage.custody import RETENTION, RETENTION_REASON
from storage.schema import case_keys, cases, holds
from storage.work_progress import Progress, no_progress

log = logging.getLogger(__name__)

LEFTOVER_AGE = timedelta(hours=1)
ERASE_STAGE = "erasing cases past the retention period (cases)"


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


async def apply(
    store: Store, actor: str = OPERATOR, progress: Progress = no_progress
) -> tuple[list[Due], list[Due]]:
    """Erase every due case not on hold: (erased, kept because held)."""
    reason = RETENTION_REASON.format(days=store.config.retention.closed_case_days)
    done, kept = [], []
    cases_due = await due(store)
    for number, case in enumerate(cases_due, start=1):
        progress(ERASE_STAGE, number - 1, len(cases_due))
        if case.held:
            kept.append(case)
            continue
        try:
            await erasure.erase(store, case.case_id, actor=actor, reason=reason)
        except OperatorError as exc:
            # Put on hold or erased by someone else since `due` looked: theirs stands.
            log.info("retention passed over case %s: %s", case.case_id, exc)
            continue
        done.append(case)
    progress(ERASE_STAGE, len(cases_due), len(cases_due))
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


Turn = Callable[[str], AbstractAsyncContextManager[bool]]
"""Whether this instance may run the named duty now (True), held until the block ends."""

ROUND = "retention"


@asynccontextmanager
async def always_ours(_duty: str) -> AsyncIterator[bool]:
    """One instance: every round is its own."""
    yield True


class RetentionRounds:
    """Retention inside `haven run`: once at start, then daily at ``next_round(now)``
    (the briefing's time, so the briefing that follows reports it). A duty of the reminder
    scheduler; its schedule needs no row, since a round that finds nothing due does
    nothing and one missed while Haven was down is the one at the next start. Each
    erasure is a custody event by :data:`storage.custody.RETENTION`.

    Several instances each keep this schedule; ``turn`` lets one of them run a round
    while the others skip it (bot/cluster/duty_turns.py), so the same case is not
    erased twice at once. One that comes later finds nothing left due."""

    def __init__(
        self,
        store: Store,
        next_round: Callable[[datetime], datetime],
        turn: Turn = always_ours,
    ) -> None:
        self.store = store
        self.next_round = next_round
        self.turn = turn
        self._next_at: datetime | None = None

    async def fire_due(self, now: datetime) -> int:
        if self._next_at is not None and now < self._next_at:
            return 0
        self._next_at = self.next_round(now)
        async with self.turn(ROUND) as ours:
            if ours:
                await self._round()
        return 0

    async def _round(self) -> None:
        erased, kept = await apply(self.store, actor=RETENTION)
        removed = await remove_leftover_blobs(self.store)
        if erased or kept or removed:
            log.info(
                "retention: %d case(s) erased, %d past the period kept on legal hold, "
                "%d leftover blob file(s) removed",
                len(erased),
                len(kept),
                removed,
            )

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return self._next_at
