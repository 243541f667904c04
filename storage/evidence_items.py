"""Evidence item rows: metadata in the clear, content sealed (inline or in the blob store).

A forwarded text is a few hundred bytes: its ciphertext stays in the row, so keeping it
costs one durable commit. Files go to the blob store, written and fsynced before the row
naming them commits. Either way the sealed plaintext is ``salt || content`` with the
item's own 32-byte salt (see storage/leaves.py), bound to the item id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.blobs import Blobs
from storage.leaves import COMMITMENT_CONTENT, SALT_SIZE, EvidenceLeaf, Origin, item_id
from storage.offload import offload
from storage.prepared import Prepared
from storage.schema import evidence_items
from storage.vault import VaultError, open_sealed

_ORIGIN_COLUMNS = {
    "origin_sender": "sender_name",
    "origin_sender_id": "sender_id",
    "origin_chat": "chat_title",
    "origin_message_id": "message_id",
    "origin_signature": "author_signature",
    "origin_link": "permalink",
}


@dataclass(frozen=True)
class ItemRecord:
    case_id: int
    item_no: int
    kind: str
    received_at: datetime
    size: int
    mime_type: str
    file_name: str
    content_sha256: str
    content_commitment: str
    leaf_index: int
    origin: Origin | None = None
    original_date: datetime | None = None
    origin_commitment: str = ""
    blob: str | None = None
    sealed: bytes | None = field(default=None, repr=False)
    """Inline ciphertext (forwarded texts); None when the content is in the blob store."""
    source_message_id: str = ""
    edit_of: int | None = None
    """The item number this one is an edited version of."""
    commitment_scheme: int = COMMITMENT_CONTENT
    """How ``content_commitment`` was made (storage/leaves.py); new items use scheme 2."""

    @property
    def item_id(self) -> str:
        return item_id(self.case_id, self.item_no)

    def leaf(self) -> EvidenceLeaf:
        """The log record this row must match, byte for byte."""
        return EvidenceLeaf(
            case_id=self.case_id,
            item_no=self.item_no,
            kind=self.kind,
            received_at=self.received_at,
            original_date=self.original_date,
            size=self.size,
            mime_type=self.mime_type,
            origin_kind=self.origin.kind if self.origin else "",
            origin_commitment=self.origin_commitment,
            content_commitment=self.content_commitment,
            edit_of=self.edit_of,
            commitment_scheme=self.commitment_scheme,
        )


@dataclass(frozen=True)
class OpenedItem:
    salt: bytes
    content: bytes


@dataclass(frozen=True)
class Usage:
    """What a case holds so far; the next item is number ``last_item_no + 1``."""

    last_item_no: int
    total_bytes: int


# Built once: each item received runs these.
_INSERT = Prepared(insert(evidence_items))
_FIND_BY_CONTENT = Prepared(
    select(evidence_items).where(
        evidence_items.c.case_id == bindparam("case_key"),
        evidence_items.c.content_sha256 == bindparam("sha256"),
    )
)
# The last item holds the case's running total: one row through the (case, item) index.
_USAGE = Prepared(
    select(evidence_items.c.item_no, evidence_items.c.case_bytes)
    .where(evidence_items.c.case_id == bindparam("case_key"))
    .order_by(evidence_items.c.item_no.desc())
    .limit(1)
)


async def insert_item(conn: AsyncConnection, item: ItemRecord, case_bytes: int) -> None:
    """Insert the item; ``case_bytes`` is the case's total with it (``usage`` + its size)."""
    origin = item.origin
    origin_values = {
        column: getattr(origin, name) if origin else "" for column, name in _ORIGIN_COLUMNS.items()
    }
    await _INSERT.run(
        conn,
        {
            "case_id": item.case_id,
            "item_no": item.item_no,
            "kind": item.kind,
            "origin_kind": origin.kind if origin else "",
            **origin_values,
            "original_date": item.original_date,
            "received_at": item.received_at,
            "size": item.size,
            "mime_type": item.mime_type,
            "file_name": item.file_name,
            "content_sha256": item.content_sha256,
            "content_commitment": item.content_commitment,
            "commitment_scheme": item.commitment_scheme,
            "origin_commitment": item.origin_commitment,
            "blob": item.blob,
            "sealed": item.sealed,
            "leaf_index": item.leaf_index,
            "source_message_id": item.source_message_id,
            "edit_of": item.edit_of,
            "case_bytes": case_bytes,
        },
    )


async def from_message(conn: AsyncConnection, case_id: int, message_id: str) -> list[ItemRecord]:
    """The items a platform message carried (its text and its files), by item number."""
    if not message_id:
        return []
    query = (
        select(evidence_items)
        .where(
            evidence_items.c.case_id == case_id,
            evidence_items.c.source_message_id == message_id,
        )
        .order_by(evidence_items.c.item_no)
    )
    return [record_of(row) for row in (await conn.execute(query)).mappings()]


async def find_by_content(conn: AsyncConnection, case_id: int, sha256: str) -> ItemRecord | None:
    found = await _FIND_BY_CONTENT.mappings(conn, {"case_key": case_id, "sha256": sha256})
    return record_of(found[0]) if found else None


async def usage(conn: AsyncConnection, case_id: int) -> Usage:
    last = await _USAGE.rows(conn, {"case_key": case_id})
    if not last:
        return Usage(last_item_no=0, total_bytes=0)
    ((item_no, total),) = last
    return Usage(last_item_no=item_no, total_bytes=total)


async def for_case(conn: AsyncConnection, case_id: int) -> list[ItemRecord]:
    """A case's items, by item number."""
    query = (
        select(evidence_items)
        .where(evidence_items.c.case_id == case_id)
        .order_by(evidence_items.c.item_no)
    )
    return [record_of(row) for row in (await conn.execute(query)).mappings()]


async def numbered(conn: AsyncConnection, case_id: int, numbers: Sequence[int]) -> list[ItemRecord]:
    """The case's items with these numbers, by item number."""
    query = (
        select(evidence_items)
        .where(evidence_items.c.case_id == case_id, evidence_items.c.item_no.in_(numbers))
        .order_by(evidence_items.c.item_no)
    )
    return [record_of(row) for row in (await conn.execute(query)).mappings()]


async def in_leaf_range(conn: AsyncConnection, begin: int, end: int) -> list[ItemRecord]:
    """Items whose leaf index lies in ``[begin, end)``, in log order (for audits)."""
    query = (
        select(evidence_items)
        .where(evidence_items.c.leaf_index >= begin, evidence_items.c.leaf_index < end)
        .order_by(evidence_items.c.leaf_index)
    )
    return [record_of(row) for row in (await conn.execute(query)).mappings()]


async def open_item(blobs: Blobs, data_key: bytes, item: ItemRecord) -> OpenedItem:
    """Decrypt an item with its case's data key (storage.case_keys.data_key).

    Raises BlobError when its blob is missing or damaged, VaultError when the ciphertext
    does not open (altered, or moved from another item).
    """
    sealed = item.sealed if item.blob is None else await blobs.aget(item.blob)
    if sealed is None:
        raise VaultError(f"item {item.item_id!r} has no ciphertext")
    plain = await offload(len(sealed), open_sealed, data_key, sealed, item.item_id)
    return OpenedItem(salt=plain[:SALT_SIZE], content=plain[SALT_SIZE:])


def record_of(row: Mapping[Any, Any]) -> ItemRecord:
    origin = None
    if row["origin_kind"]:
        origin = Origin(
            kind=row["origin_kind"],
            **{field: row[column] for column, field in _ORIGIN_COLUMNS.items()},
        )
    return ItemRecord(
        case_id=row["case_id"],
        item_no=row["item_no"],
        kind=row["kind"],
        received_at=row["received_at"],
        size=row["size"],
        mime_type=row["mime_type"],
        file_name=row["file_name"],
        content_sha256=row["content_sha256"],
        content_commitment=row["content_commitment"],
        leaf_index=row["leaf_index"],
        origin=origin,
        original_date=row["original_date"],
        origin_commitment=row["origin_commitment"],
        blob=row["blob"],
        sealed=bytes(row["sealed"]) if row["sealed"] is not None else None,
        source_message_id=row["source_message_id"],
        edit_of=row["edit_of"],
        commitment_scheme=row["commitment_scheme"],
    )


async def blob_addresses(conn: AsyncConnection) -> set[str]:
    """The address of every blob an item names."""
    query = select(evidence_items.c.blob).where(evidence_items.c.blob.is_not(None))
    return {str(address) for (address,) in await conn.execute(query)}
