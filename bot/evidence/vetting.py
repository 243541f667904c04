"""Before a row's values are shown, they are checked against the log (storage/item_checks.py).

`/evidence` and `/search` show an item's time, size, kind, sender and SHA-256 from its
row. A row the log contradicts (someone changed the database) must not be shown as if it
were true: :func:`contradicted` names, for the items about to be shown, what their rows
say differently from their leaves and their content. The caller shows those items only
as "does not match the log", without the row's values, and alerts the staff.

It opens each item it checks — every value the leaf holds only salted (the SHA-256, the
sender) needs the content and its salt — so callers check only what they show (30 lines
of `/evidence`, 20 search hits), outside the turn's transaction.
"""

from __future__ import annotations

from collections.abc import Collection

from storage import case_keys, evidence_items, ledger
from storage.blobs import BlobError, Blobs
from storage.case_keys import CaseKeyError
from storage.database import Database
from storage.item_checks import content_differences, leaf_differences
from storage.keys import KeyRing
from storage.offload import offload
from storage.vault import VaultError

Contradicted = dict[int, tuple[str, ...]]
"""Item number → what its row says differently from the log, in words."""

UNOPENED = "its content does not open under its number"
ALERT_REASON = "evidence_mismatch"
"""The reason staff are alerted with when a case's records contradict its log."""


async def contradicted(
    db: Database, blobs: Blobs, ring: KeyRing, case_id: int, numbers: Collection[int]
) -> Contradicted:
    if not numbers:
        return {}
    async with db.transaction() as conn:
        records = await evidence_items.numbered(conn, case_id, sorted(numbers))
        leaves = {
            leaf.index: leaf.data
            for leaf in await ledger.leaves_at(conn, [r.leaf_index for r in records])
        }
        try:
            key = await case_keys.data_key(conn, ring, case_id)
        except CaseKeyError:
            return {}  # erased, or nothing kept yet: there is no content to show either
    found: Contradicted = {}
    for record in records:
        differ = list(leaf_differences(record, leaves.get(record.leaf_index)))
        try:
            opened = await evidence_items.open_item(blobs, key, record)
        except (BlobError, VaultError):
            differ.append(UNOPENED)
        else:
            differ += await offload(
                record.size, content_differences, record, opened.salt, opened.content
            )
        if differ:
            found[record.item_no] = tuple(dict.fromkeys(differ))
    return found
