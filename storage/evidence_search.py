"""Reading a case's evidence rows for a search or a timeline, a batch at a time.

The scope of a read — the case, a time window, the kinds — is part of the SQL ``WHERE``
clause, never a filter applied to rows already read: an item outside an approved
retrieval's window is not even fetched, so its ciphertext is never touched. Rows come in
batches ordered by item number (keyset pagination: each batch starts after the last
item number of the one before), so a caller decrypts one batch, keeps what it needs and
lets the batch go: memory stays bounded however large the case is.

An item's time, for windows and timelines, is its *event time*: the original date the
platform gave for a forwarded message, else the time Haven received it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.leaves import item_id
from storage.schema import evidence_items

BATCH_SIZE = 200
_CHUNK = 1000


def event_time() -> ColumnElement[Any]:
    """The item's event time as a SQL expression: its original date, else its receipt."""
    return func.coalesce(evidence_items.c.original_date, evidence_items.c.received_at)


@dataclass(frozen=True)
class Window:
    """A span of event time: ``start`` included, ``end`` excluded; None is open-ended."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("a window's times must be timezone-aware")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("a window must start before it ends")

    @property
    def is_open(self) -> bool:
        return self.start is None and self.end is None

    def within(self, outer: Window) -> bool:
        """Whether every moment of this window lies inside ``outer``."""
        if outer.start is not None and (self.start is None or self.start < outer.start):
            return False
        return outer.end is None or (self.end is not None and self.end <= outer.end)

    def narrowed_to(self, outer: Window) -> Window:
        """The moments of this window inside ``outer``; ValueError when there are none."""
        starts = [m for m in (self.start, outer.start) if m is not None]
        ends = [m for m in (self.end, outer.end) if m is not None]
        return Window(max(starts) if starts else None, min(ends) if ends else None)

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment < self.end
        )


@dataclass(frozen=True)
class Scope:
    """Which of a case's items a read may see."""

    case_id: int
    window: Window = field(default_factory=Window)
    kinds: frozenset[str] = frozenset()
    """Stored item kinds (``text``, ``photo``…); empty means every kind."""


def _conditions(scope: Scope) -> list[ColumnElement[bool]]:
    conditions = [evidence_items.c.case_id == scope.case_id]
    if scope.window.start is not None:
        conditions.append(event_time() >= scope.window.start)
    if scope.window.end is not None:
        conditions.append(event_time() < scope.window.end)
    if scope.kinds:
        conditions.append(evidence_items.c.kind.in_(sorted(scope.kinds)))
    return conditions


@dataclass(frozen=True)
class Candidate:
    """What a search needs of an item: its description and its ciphertext (inline), or
    the name of its blob. Lighter than a full ItemRecord, since a search reads thousands."""

    case_id: int
    item_no: int
    kind: str
    mime_type: str
    file_name: str
    sender: str
    signature: str
    original_date: datetime | None
    received_at: datetime
    blob: str | None
    sealed: bytes | None

    @property
    def item_id(self) -> str:
        return item_id(self.case_id, self.item_no)

    @property
    def event_time(self) -> datetime:
        return self.original_date or self.received_at


_CANDIDATE_COLUMNS = (
    evidence_items.c.case_id,
    evidence_items.c.item_no,
    evidence_items.c.kind,
    evidence_items.c.mime_type,
    evidence_items.c.file_name,
    evidence_items.c.origin_sender,
    evidence_items.c.origin_signature,
    evidence_items.c.original_date,
    evidence_items.c.received_at,
    evidence_items.c.blob,
    evidence_items.c.sealed,
)


async def candidates(
    conn: AsyncConnection, scope: Scope, *, after_item_no: int = 0, limit: int = BATCH_SIZE
) -> list[Candidate]:
    """Up to ``limit`` items in ``scope`` numbered above ``after_item_no``, by number."""
    query = (
        select(*_CANDIDATE_COLUMNS)
        .where(*_conditions(scope), evidence_items.c.item_no > after_item_no)
        .order_by(evidence_items.c.item_no)
        .limit(limit)
    )
    return [Candidate(*row) for row in await conn.execute(query)]


async def count(conn: AsyncConnection, scope: Scope) -> int:
    query = select(func.count()).where(*_conditions(scope))
    return int((await conn.execute(query)).scalar_one())


@dataclass(frozen=True)
class DatedItem:
    """What a timeline needs of an item: no content, no ciphertext."""

    item_no: int
    kind: str
    received_at: datetime
    original_date: datetime | None
    sender: str
    chat: str
    file_name: str
    edit_of: int | None

    @property
    def event_time(self) -> datetime:
        return self.original_date or self.received_at


_DATED_COLUMNS = (
    evidence_items.c.item_no,
    evidence_items.c.kind,
    evidence_items.c.received_at,
    evidence_items.c.original_date,
    evidence_items.c.origin_sender,
    evidence_items.c.origin_chat,
    evidence_items.c.file_name,
    evidence_items.c.edit_of,
)


async def dated(
    conn: AsyncConnection, scope: Scope, *, latest: int | None = None
) -> AsyncIterator[DatedItem]:
    """The items in ``scope`` without their ciphertext, by item number, read in chunks;
    with ``latest``, only the ``latest`` last by event time, earliest first."""
    query = select(*_DATED_COLUMNS).where(*_conditions(scope))
    if latest is None:
        result = await conn.stream(query.order_by(evidence_items.c.item_no))
        async for chunk in result.partitions(_CHUNK):
            for row in chunk:
                yield DatedItem(*row)
        return
    newest = query.order_by(event_time().desc(), evidence_items.c.item_no.desc()).limit(latest)
    for row in reversed((await conn.execute(newest)).all()):
        yield DatedItem(*row)


async def numbers(conn: AsyncConnection, case_id: int, wanted: Collection[int]) -> list[int]:
    """Which of ``wanted`` are item numbers of the case, in order."""
    if not wanted:
        return []
    query = (
        select(evidence_items.c.item_no)
        .where(evidence_items.c.case_id == case_id, evidence_items.c.item_no.in_(sorted(wanted)))
        .order_by(evidence_items.c.item_no)
    )
    return [int(n) for n in (await conn.execute(query)).scalars()]
