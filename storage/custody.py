"""Custody events: who received, read, exported, erased, held or re-keyed what, and why.

Each event is a row (for queries) and a leaf of the evidence log (so the history cannot
be quietly rewritten). Receiving an item is the one exception to "one event, one leaf":
the item's own evidence leaf already records it, so its custody row points there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import ledger
from storage.leaves import CustodyEvent, LeafKind
from storage.prepared import Prepared
from storage.schema import custody_events

RECEIVED = "received"
VICTIM = "victim"
# The running bot's daily retention round (bot/evidence/retention.py), and the reason
# every retention erasure gives, by the bot or by `haven retention --apply`.
RETENTION = "retention"
RETENTION_PREFIX = "retention: "
RETENTION_REASON = RETENTION_PREFIX + "closed more than {days} days ago"
ERASE = "erase"


@dataclass(frozen=True)
class CustodyRow:
    event: CustodyEvent
    leaf_index: int


async def record(conn: AsyncConnection, event: CustodyEvent) -> ledger.Appended:
    """Append ``event`` to the log and store its row, in the caller's transaction."""
    appended = await ledger.append(conn, LeafKind.CUSTODY, event.to_bytes(), event.at)
    await _insert(conn, event, appended.index)
    return appended


async def record_received(
    conn: AsyncConnection, case_id: int, item_no: int, at: datetime, leaf_index: int
) -> None:
    """The victim handed over an item; ``leaf_index`` is the item's evidence leaf."""
    event = CustodyEvent(actor=VICTIM, action=RECEIVED, at=at, case_id=case_id, item_no=item_no)
    await _insert(conn, event, leaf_index)


async def in_leaf_range(conn: AsyncConnection, begin: int, end: int) -> list[CustodyRow]:
    """Events whose leaf index lies in ``[begin, end)``, in log order (for audits)."""
    query = (
        select(custody_events)
        .where(custody_events.c.leaf_index >= begin, custody_events.c.leaf_index < end)
        .order_by(custody_events.c.leaf_index)
    )
    return await _rows(conn, query)


async def received_in_leaf_range(conn: AsyncConnection, begin: int, end: int) -> list[CustodyRow]:
    """The "received" events among those, for an audit that has proven the others."""
    query = (
        select(custody_events)
        .where(
            custody_events.c.leaf_index >= begin,
            custody_events.c.leaf_index < end,
            custody_events.c.action == RECEIVED,
        )
        .order_by(custody_events.c.leaf_index)
    )
    return await _rows(conn, query)


async def for_case(conn: AsyncConnection, case_id: int) -> list[CustodyRow]:
    """The case's events, in log order."""
    query = (
        select(custody_events)
        .where(custody_events.c.case_id == case_id)
        .order_by(custody_events.c.leaf_index, custody_events.c.id)
    )
    return await _rows(conn, query)


_COLUMNS = (
    custody_events.c.actor,
    custody_events.c.action,
    custody_events.c.at,
    custody_events.c.case_id,
    custody_events.c.item_no,
    custody_events.c.reason,
    custody_events.c.leaf_index,
)


async def _rows(conn: AsyncConnection, query: Select[Any]) -> list[CustodyRow]:
    # Plain tuples in a fixed column order: an audit reads one row per leaf of the log.
    rows = await conn.execute(query.with_only_columns(*_COLUMNS))
    return [
        CustodyRow(CustodyEvent(actor, action, at, case_id, item_no, reason), leaf_index)
        for actor, action, at, case_id, item_no, reason, leaf_index in rows
    ]


_INSERT = Prepared(insert(custody_events))  # built once: every item received records one


async def _insert(conn: AsyncConnection, event: CustodyEvent, leaf_index: int) -> None:
    await _INSERT.run(
        conn,
        {
            "case_id": event.case_id,
            "item_no": event.item_no,
            "actor": event.actor,
            "action": event.action,
            "reason": event.reason,
            "at": event.at,
            "leaf_index": leaf_index,
        },
    )
