"""What a log leaf says: canonical JSON records for evidence and custody events.

A leaf's data is the UTF-8 bytes of one JSON object with sorted keys, no white space and
non-ASCII characters as themselves (``canonical_json``), so the same record always gives
the same bytes and the same leaf hash. Times are UTC with microseconds and a ``Z``.

What a leaf holds, and what it deliberately does not:

- An evidence leaf commits to the item's metadata (case, item id, kind, received time,
  original date, size, MIME type, kind of origin) and to its content through
  ``content_commitment``, salted with the item's own random 32-byte salt, which is stored
  encrypted with the content. Its scheme is the leaf's ``"v"``:

  - ``"v": 1`` (items kept before issue 21): SHA-256(salt || content);
  - ``"v": 2``: SHA-256("haven-content-v2\n" || salt || SHA-256(content)). The inner
    hash is the receipt's SHA-256, computed in the same pass over the bytes as their
    encryption, so the commitment costs one small hash instead of a second pass over a
    file. It hides as much: without the salt, neither the content nor its plain SHA-256
    (a receipt, a known-file list) can be tested against it — 2**256 salts to try —
    and once the case is crypto-shredded the salt is gone with the key. It binds as
    much: another content with the same commitment needs a SHA-256 collision, inner or
    outer. What differs: with the salt, the plain SHA-256 suffices to check it without
    the file — a bundle hands over both anyway. The label keeps the two schemes apart
    (a 32-byte content under v1 is never a v2 commitment).
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
COMMITMENT_CONTENT = 1
"""Scheme 1: SHA-256(salt || content); leaves of items kept before issue 21."""
COMMITMENT_CONTENT_HASH = 2
"""Scheme 2: SHA-256(label || salt || SHA-256(content)); what intake writes now."""
COMMITMENT_SCHEMES = (COMMITMENT_CONTENT, COMMITMENT_CONTENT_HASH)
CONTENT_HASH_LABEL_TEXT = "haven-content-v2\\n"
"""Scheme 2's label as printf(1) writes it: the label is these bytes with a newline."""
_CONTENT_HASH_LABEL = b"haven-content-v2\n"
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
    """Scheme 1: SHA-256(salt || content), hex. Kept to verify the items it was written
    for. Hashed in two updates: a 20 MB file is not copied."""
    digest = hashlib.sha256(salt)
    digest.update(content)
    return digest.hexdigest()


def hash_commitment(salt: bytes, content_sha256: bytes) -> str:
    """Scheme 2: SHA-256(label || salt || SHA-256(content)), hex, from the content's
    32-byte digest: no second pass over the content."""
    return hashlib.sha256(_CONTENT_HASH_LABEL + salt + content_sha256).hexdigest()


def commitment_of(scheme: int, salt: bytes, content: bytes, content_sha256: bytes) -> str:
    """The commitment ``scheme`` gives for ``content`` (whose digest is given: whoever
    checks has it already); ValueError for a scheme this Haven does not know."""
    if scheme == COMMITMENT_CONTENT_HASH:
        return hash_commitment(salt, content_sha256)
    if scheme == COMMITMENT_CONTENT:
        return content_commitment(salt, content)
    raise ValueError(f"unknown content commitment scheme {scheme}")


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
    commitment_scheme: int = COMMITMENT_CONTENT

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
                # The commitment's scheme: 1 for every leaf written before scheme 2.
                "v": self.commitment_scheme,
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
