"""Legal holds and erasure (crypto-shredding) of a case.

Erasing destroys the case's data key, so every copy of its ciphertext, wherever it is,
can never be read again (see storage/vault.py). In the same transaction it appends a
tombstone leaf and an "erase" custody event to the log, blanks what the item rows hold
in clear beyond their leaves (file names, the origin's names; the plain SHA-256 becomes
the salted commitment the leaf has anyway) and drops their inline ciphertext, deletes the
victim's answers and notes, closes the case, cancels its pending reminders and drops its
unsent messages: blanked, but kept as rows, since a deleted row's id could go to the next
message while the outbox still knows that id as sent and waiting for its mark. Messages
already sent are blanked too (their text may quote the evidence). The
blobs are deleted afterwards, only to reclaim space, and so are the bundles `/export`
left in the data directory, which are plaintext. Once the transaction has committed, the
database's files are rid of the pages as they were (``Database.flush_erased``). The log's
leaves stay: they hold only salted commitments, so the store still audits clean.

A case under a legal hold cannot be erased until the hold is released.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.evidence.export import plaintext_copies
from bot.evidence.store import OperatorError, Store
from storage import (
    cases,
    custody,
    escalations,
    evidence_items,
    ledger,
    reminders,
    signal_checks,
    talks,
    web_chats,
)
from storage.leaves import LEAF_VERSION, CustodyEvent, LeafKind, canonical_json, utc_stamp
from storage.schema import answers, case_keys, case_notes, holds, outbox, staff_notes
from storage.schema import cases as cases_table
from storage.schema import evidence_items as items_table

log = logging.getLogger(__name__)

HOLD = "hold"
RELEASE = "release"
ERASE = custody.ERASE


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
        await _shred_key(conn, case_id, now)
        items = await evidence_items.for_case(conn, case_id)
        await _blank_items(conn, case_id)
        await _forget_case(conn, case_id, now)
        await escalations.end_for_erasure(conn, case_id, by=actor, now=now)
        await talks.end_for_erasure(conn, case_id, by=actor, now=now)
        await signal_checks.settle(conn, case_id, now)
        await ledger.append(conn, LeafKind.TOMBSTONE, _tombstone(case_id, now), now)
        event = CustodyEvent(actor=actor, action=ERASE, at=now, case_id=case_id, reason=reason)
        await custody.record(conn, event)
        pending = [reminder.id for reminder in await reminders.pending_of_case(conn, case_id)]
        await reminders.cancel(conn, pending, now)
        await web_chats.forget_case(conn, case_id)  # what a web page would show again
        dropped = await conn.execute(
            update(outbox)
            .where(outbox.c.case_id == case_id, outbox.c.state.in_(("pending", "dead")))
            .values(state="dropped", payload="{}", last_error="")
        )
        await _blank_sent(conn, case_id)
    if not await store.db.flush_erased():
        log.warning(
            "case %d is erased; the database's write-ahead log still holds earlier pages "
            "(a reader holds an older snapshot) until the next checkpoint",
            case_id,
        )
    for item in items:
        if item.blob is not None:
            await store.blobs.adelete(item.blob)
    await asyncio.to_thread(_remove_plaintext_copies, store, case_id)
    return Erased(case_id, len(items), len(pending), dropped.rowcount or 0)


def _remove_plaintext_copies(store: Store, case_id: int) -> None:
    """Bundles are plaintext: a copy left in the data directory would undo the shredding."""
    for bundle in plaintext_copies(store, case_id):
        bundle.unlink(missing_ok=True)


async def _shred_key(conn: AsyncConnection, case_id: int, now: datetime) -> None:
    updated = await conn.execute(
        update(case_keys)
        .where(case_keys.c.case_id == case_id)
        .values(wrapped_key=None, erased_at=now)
    )
    if updated.rowcount:
        return
    # No evidence yet, so no key: record the erasure all the same.
    await conn.execute(
        insert(case_keys).values(
            case_id=case_id, wrapped_key=None, master_key_id="", created_at=now, erased_at=now
        )
    )


async def _blank_items(conn: AsyncConnection, case_id: int) -> None:
    """Clear what item rows hold in clear beyond their leaves; drop inline ciphertext."""
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


async def _forget_case(conn: AsyncConnection, case_id: int, now: datetime) -> None:
    """The victim's answers and notes go too (free text), and what staff noted; the case
    is closed."""
    await conn.execute(delete(answers).where(answers.c.case_id == case_id))
    await conn.execute(delete(case_notes).where(case_notes.c.case_id == case_id))
    # Staff notes may quote the victim; their custody events keep only a hash.
    await conn.execute(update(staff_notes).where(staff_notes.c.case_id == case_id).values(text=""))
    await conn.execute(
        update(cases_table)
        .where(cases_table.c.id == case_id)
        .values(
            status="closed",
            closed_at=func.coalesce(cases_table.c.closed_at, now),
            pending_multi="[]",
            updated_at=now,
        )
    )


async def _blank_sent(conn: AsyncConnection, case_id: int) -> None:
    """Messages already sent stay as rows (their platform ids still route a staff reply
    to the case) but lose their text: replies quoting evidence, search and timeline
    answers, memo echoes, alerts — the platform has its copy, the database keeps none."""
    await conn.execute(
        update(outbox)
        .where(outbox.c.case_id == case_id, outbox.c.state == "sent")
        .values(payload="{}", last_error="")
    )


def _tombstone(case_id: int, now: datetime) -> bytes:
    return canonical_json(
        {"at": utc_stamp(now), "case": case_id, "type": LeafKind.TOMBSTONE.value, "v": LEAF_VERSION}
    )


async def _existing(conn: AsyncConnection, case_id: int) -> None:
    if await cases.get(conn, case_id) is None:
        raise OperatorError(f"there is no case {case_id}")


async def _active_hold(conn: AsyncConnection, case_id: int) -> int | None:
    query = select(holds.c.id).where(holds.c.case_id == case_id, holds.c.released_at.is_(None))
    found: int | None = (await conn.execute(query)).scalar()
    return found
