"""What a log leaf says: canonical JSON records for evidence and custody events.

A leaf's data is the UTF-8 bytes of one JSON object with sorted keys, no white space and
non-ASCII characters as themselves (``canonical_json``), so the same record always gives
the same bytes and the same leaf hash. Times are UTC with microseconds and a ``Z``.

What a leaf holds, and what it deliberately does not:

- An evidence leaf commits to the item's metadata (case, item id, kind, received time,
  original date, size, MIME type, kind of origin) and to its content through
  ``content_commitment`` = SHA-256(salt || content), with the item's own random 32-byte
  salt, which is stored encrypted with the content.
- The plain SHA-256 of the content is *not* in the leaf, and neither are the origin's
  names: those go into ``origin_commitment`` = SHA-256(salt || "haven-origin-v1\\n" ||
  origin JSON). Leaves can never be removed (the tree would no longer verify), so after a
  case is crypto-shredded its leaves stay readable forever. With only salted hashes in
  them, they say nothing about a short text ("yes", a phone number) or about who sent
  it, yet anyone given the salt — an export bundle includes it — can still check them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

LEAF_VERSION = 1
SALT_SIZE = 32
_ORIGIN_LABEL = b"haven-origin-v1\n"
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class LeafKind(StrEnum):
    EVIDENCE = "evidence"
    CUSTODY = "custody"
    TOMBSTONE = "tombstone"


def canonical_json(value: Mapping[str, object]) -> bytes:
    return _CANONICAL.encode(value).encode("utf-8")


def utc_stamp(moment: datetime) -> str:
    """``2026-01-05T01:00:00.000000Z``: fixed width, so equal times are equal text."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a leaf")
    # isoformat, not strftime: as exact, and several times faster in an audit's loop.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def item_id(case_id: int, item_no: int) -> str:
    """The item's name in leaves and in the encryption's associated data: ``12-3``."""
    return f"{case_id}-{item_no}"


def content_commitment(salt: bytes, content: bytes) -> str:
    """SHA-256(salt || content), hex. Hashed in two updates: a 20 MB file is not copied."""
    digest = hashlib.sha256(salt)
    digest.update(content)
    return digest.hexdigest()


@dataclass(frozen=True)
class Origin:
    """Where a forwarded item came from, as far as the platform said."""

    kind: str
    sender_name: str = ""
    sender_id: str = ""
    chat_title: str = ""
    message_id: str = ""
    author_signature: str = ""
    permalink: str = ""

    def commitment(self, salt: bytes) -> str:
        named = {
            "author_signature": self.author_signature,
            "chat_title": self.chat_title,
            "kind": self.kind,
            "message_id": self.message_id,
            "permalink": self.permalink,
            "sender_id": self.sender_id,
            "sender_name": self.sender_name,
        }
        return hashlib.sha256(salt + _ORIGIN_LABEL + canonical_json(named)).hexdigest()


@dataclass(frozen=True)
class EvidenceLeaf:
    case_id: int
    item_no: int
    kind: str
    received_at: datetime
    original_date: datetime | None
    size: int
    mime_type: str
    origin_kind: str
    origin_commitment: str
    content_commitment: str
    edit_of: int | None = None

    def to_bytes(self) -> bytes:
        # "edit_of" appears only on edits, so every earlier leaf keeps its exact bytes.
        link = {"edit_of": item_id(self.case_id, self.edit_of)} if self.edit_of else {}
        return canonical_json(
            {
                **link,
                "case": self.case_id,
                "content_commitment": self.content_commitment,
                "item": item_id(self.case_id, self.item_no),
                "kind": self.kind,
                "mime": self.mime_type,
                "origin": self.origin_kind or None,
                "origin_commitment": self.origin_commitment or None,
                "original_date": utc_stamp(self.original_date) if self.original_date else None,
                "received_at": utc_stamp(self.received_at),
                "size": self.size,
                "type": LeafKind.EVIDENCE.value,
                "v": LEAF_VERSION,
            }
        )


@dataclass(frozen=True)
class CustodyEvent:
    """Who did what to which case or item, when and why."""

    actor: str
    action: str
    at: datetime
    case_id: int | None = None
    item_no: int | None = None
    reason: str = ""

    def to_bytes(self) -> bytes:
        item = None
        if self.case_id is not None and self.item_no is not None:
            item = item_id(self.case_id, self.item_no)
        return canonical_json(
            {
                "action": self.action,
                "actor": self.actor,
                "at": utc_stamp(self.at),
                "case": self.case_id,
                "item": item,
                "reason": self.reason,
                "type": LeafKind.CUSTODY.value,
                "v": LEAF_VERSION,
            }
        )
