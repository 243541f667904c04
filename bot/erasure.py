"""Legal holds and erasure (crypto-shredding) of a case.

Erasing destroys the case's data key, so every copy of its ciphertext, wherever it is,
can never be read again (see storage/vault.py). In the same transaction it appends a
tombstone leaf and an "erase" custody event to the log, blanks what the item rows hold
in clear beyond their leaves (file names, the origin's names; the plain SHA-256
becomes the salted commitment the leaf has anyway) and drops
their inline ciphertext, cancels the case's pending reminders and deletes its unsent
messages. The blobs are deleted afterwards, only to reclaim space. The log's leaves stay:
they hold only salted commitments, so the store still audits clean.

A case under a legal hold cannot be erased until the hold is released.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.operator import OperatorError, Store
from storage import cases, custody, evidence_items, ledger, reminders
from storage.leaves import LEAF_VERSION, CustodyEvent, LeafKind, canonical_json, utc_stamp
from storage.schema import case_keys, holds, outbox
from storage.schema import evidence_items as items_table

HOLD = "hold"
RELEASE = "release"
ERASE = "erase"


@dataclass(frozen=True)
class Erased:
    case_id: int
    items: int
    reminders_cancelled: int
    messages_dropped: int


async def held(conn: AsyncConnection, case_id: int) -> bool:
    return (await _active_hold(conn, case_id)) is not None


async def erased(conn: AsyncConnection, case_id: int) -> bool:
    query = select(case_keys.c.erased_at).where(case_keys.c.case_id == case_id)
    return (await conn.execute(query)).scalar() is not None


async def hold(store: Store, case_id: int, *, actor: str, reason: str) -> None:
    if not reason.strip():
        raise OperatorError("a hold needs a reason (--reason)")
    async with store.db.transaction() as conn:
        await _existing(conn, case_id)
        if await held(conn, case_id):
            raise OperatorError(f"case {case_id} is already on hold")
        await place_hold(conn, case_id, actor=actor, reason=reason, now=store.clock.now())


async def release(store: Store, case_id: int, *, actor: str, reason: str = "") -> None:
    async with store.db.transaction() as conn:
        await _existing(conn, case_id)
        if not await lift_hold(conn, case_id, actor=actor, reason=reason, now=store.clock.now()):
            raise OperatorError(f"case {case_id} is not on hold")


async def place_hold(
    conn: AsyncConnection, case_id: int, *, actor: str, reason: str, now: datetime
) -> None:
    """Put an existing case that is not on hold under one, in the caller's transaction."""
    await conn.execute(
        insert(holds).values(case_id=case_id, reason=reason, held_by=actor, held_at=now)
    )
    event = CustodyEvent(actor=actor, action=HOLD, at=now, case_id=case_id, reason=reason)
    await custody.record(conn, event)


async def lift_hold(
    conn: AsyncConnection, case_id: int, *, actor: str, reason: str, now: datetime
) -> bool:
    """Release the case's hold in the caller's transaction; False when it had none."""
    hold_id = await _active_hold(conn, case_id)
    if hold_id is None:
        return False
    await conn.execute(
        update(holds).where(holds.c.id == hold_id).values(released_by=actor, released_at=now)
    )
    event = CustodyEvent(actor=actor, action=RELEASE, at=now, case_id=case_id, reason=reason)
    await custody.record(conn, event)
    return True


async def erase(store: Store, case_id: int, *, actor: str, reason: str) -> Erased:
    """Crypto-shred case ``case_id``; refused while it is on hold or already erased."""
    now = store.clock.now()
    async with store.db.transaction() as conn:
        await _existing(conn, case_id)
        if await held(conn, case_id):
            raise OperatorError(f"case {case_id} is on legal hold; release the hold first")
        if await erased(conn, case_id):
            raise OperatorError(f"case {case_id} was erased already")
        updated = await conn.execute(
            update(case_keys)
            .where(case_keys.c.case_id == case_id)
            .values(wrapped_key=None, erased_at=now)
        )
        if not updated.rowcount:  # no evidence yet: record the erasure all the same
            await conn.execute(
                insert(case_keys).values(
                    case_id=case_id,
                    wrapped_key=None,
                    master_key_id="",
                    created_at=now,
                    erased_at=now,
                )
            )
        items = await evidence_items.for_case(conn, case_id)
        await conn.execute(
            update(items_table)
            .where(items_table.c.case_id == case_id)
            .values(
                sealed=None,
                blob=None,
                file_name="",
                # unique per case, like the plain hash it replaces; already in the leaf
                content_sha256=items_table.c.content_commitment,
                origin_sender="",
                origin_sender_id="",
                origin_chat="",
                origin_message_id="",
                origin_signature="",
                origin_link="",
            )
        )
        tombstone = canonical_json(
            {
                "at": utc_stamp(now),
                "case": case_id,
                "type": LeafKind.TOMBSTONE.value,
                "v": LEAF_VERSION,
            }
        )
        await ledger.append(conn, LeafKind.TOMBSTONE, tombstone, now)
        event = CustodyEvent(actor=actor, action=ERASE, at=now, case_id=case_id, reason=reason)
        await custody.record(conn, event)
        pending = [reminder.id for reminder in await reminders.pending_of_case(conn, case_id)]
        await reminders.cancel(conn, pending, now)
        dropped = await conn.execute(
            delete(outbox).where(
                outbox.c.case_id == case_id, outbox.c.state.in_(("pending", "dead"))
            )
        )
    for item in items:
        if item.blob is not None:
            await store.blobs.adelete(item.blob)
    return Erased(case_id, len(items), len(pending), dropped.rowcount or 0)


async def _existing(conn: AsyncConnection, case_id: int) -> None:
    if await cases.get(conn, case_id) is None:
        raise OperatorError(f"there is no case {case_id}")


async def _active_hold(conn: AsyncConnection, case_id: int) -> int | None:
    query = select(holds.c.id).where(holds.c.case_id == case_id, holds.c.released_at.is_(None))
    found: int | None = (await conn.execute(query)).scalar()
    return found
