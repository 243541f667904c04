"""What an evidence item's row must agree with before Haven shows or hands it over.

An item row is plain metadata: whoever can write to the database can change its SHA-256,
its sender or its time, delete it, or swap two items' numbers. The log leaf it points to
cannot be changed unnoticed (it is in the signed Merkle tree), and the content cannot be
changed without the case key (it is sealed under the item's id). So before a row's values
are shown (`/evidence`, `/search`) or exported, they are checked against both:

- :func:`leaf_differences`: the row rebuilds its leaf byte for byte (item number, kind,
  received time, original date, size, MIME type, origin kind and the two commitments);
- :func:`content_differences`: the decrypted content gives the row's SHA-256 and size and
  the leaf's content commitment, and the row's sender and source give its origin
  commitment (both salted with the item's own salt, which only the content holds);
- :func:`sequence_problems`: the case's items are numbered 1, 2, 3… without a gap, in log
  order, and every item the log says was received still has its row.

Each function names what differs in words for a person (never a value: the values may be
a victim's words or a sender's name), so a refusal can say what is wrong and where.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from storage.evidence_items import ItemRecord
from storage.leaves import commitment_of

_FIELDS = {
    "case": "case",
    "item": "item number",
    "kind": "kind",
    "received_at": "time received",
    "original_date": "original time",
    "size": "size",
    "mime": "file type",
    "origin": "kind of origin",
    "origin_commitment": "sender or source",
    "content_commitment": "content",
    "edit_of": "edited item",
}


def leaf_differences(item: ItemRecord, leaf: bytes | None) -> tuple[str, ...]:
    """What the row says differently from its log leaf; empty when it rebuilds it."""
    if leaf is None:
        return ("log entry missing",)
    rebuilt = item.leaf().to_bytes()
    if rebuilt == leaf:
        return ()
    try:
        logged = json.loads(leaf)
    except ValueError:
        return ("log entry",)
    if not isinstance(logged, dict):
        return ("log entry",)
    own = json.loads(rebuilt)
    differing = {key for key in own.keys() | logged.keys() if own.get(key) != logged.get(key)}
    return tuple(sorted({_FIELDS.get(key, key) for key in differing})) or ("log entry",)


def content_differences(item: ItemRecord, salt: bytes, content: bytes) -> tuple[str, ...]:
    """What the decrypted content and the row's origin contradict in the row."""
    differ = []
    if len(content) != item.size:
        differ.append("size")
    digest = hashlib.sha256(content).digest()
    if digest.hex() != item.content_sha256:
        differ.append("SHA-256")
    if not commits(item, salt, content, digest):
        differ.append("content")
    origin = item.origin.commitment(salt) if item.origin is not None else ""
    if origin != item.origin_commitment:
        differ.append("sender or source")
    return tuple(differ)


def commits(item: ItemRecord, salt: bytes, content: bytes, digest: bytes) -> bool:
    """Whether the content gives the row's commitment under the row's scheme (one it
    does not know gives none)."""
    try:
        made = commitment_of(item.commitment_scheme, salt, content, digest)
    except ValueError:
        return False
    return made == item.content_commitment


def sequence_problems(
    items: Sequence[ItemRecord], received: Mapping[int, int]
) -> tuple[tuple[int, str], ...]:
    """(item number, problem) for a case's rows as a whole.

    ``items`` are the case's rows by item number; ``received`` maps each item number the
    custody log says was received to its leaf index.
    """
    problems: list[tuple[int, str]] = []
    by_number = {item.item_no: item for item in items}
    last = max([*by_number, *received], default=0)
    for number in range(1, last + 1):
        if number not in by_number:
            problems.append((number, "its row is missing"))
    previous = -1
    for item in items:
        if item.leaf_index <= previous:
            problems.append((item.item_no, "out of log order"))
        previous = max(previous, item.leaf_index)
        logged = received.get(item.item_no)
        if logged is not None and logged != item.leaf_index:
            problems.append((item.item_no, "points to another log entry"))
    return tuple(problems)
