"""One pass over a file's bytes: its receipt hash, its sealing and its blob's address.

Intake used to read a large file four times: SHA-256 for the receipt, SHA-256 again with
the salt for the log's commitment, AES-GCM to seal it, and SHA-256 of the sealed bytes for
the blob's address. Now the commitment is derived from the receipt's hash (scheme 2 in
storage/leaves.py), and :func:`seal_file` takes the file a chunk at a time — hashes the
chunk, seals it, hashes what it became — so each byte is read from memory once and the
three steps work on a chunk still in the processor's cache. The address is the SHA-256
of the sealed bytes as before, so both blob stores keep checking every read against it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from storage.vault import TAG_SIZE, Sealing

# Small enough to stay in a core's cache between the three steps, large enough that the
# steps' per-call costs do not count.
CHUNK = 256 * 1024


@dataclass(frozen=True)
class SealedFile:
    sealed: bytearray = field(repr=False)
    """``salt || content`` sealed as :func:`storage.vault.seal` seals it."""
    address: str
    """The SHA-256 of ``sealed``, hex: the blob's address."""
    content_sha256: bytes
    """SHA-256(content), the receipt's hash; empty when it was not asked for."""


def seal_file(
    data_key: bytes, salt: bytes, content: bytes, item_id: str, *, hash_content: bool
) -> SealedFile:
    """``salt || content`` sealed for ``item_id``, its address, and (``hash_content``)
    the content's SHA-256 — all in one pass over ``content``."""
    sealing = Sealing(data_key, item_id, len(salt) + len(content))
    plain = hashlib.sha256()
    with sealing.header as header:
        address = hashlib.sha256(header)
    with sealing.update(salt) as sealed_salt:
        address.update(sealed_salt)
    with memoryview(content) as view:
        for start in range(0, len(view), CHUNK):
            with view[start : start + CHUNK] as piece:
                if hash_content:
                    plain.update(piece)
                with sealing.update(piece) as sealed_piece:
                    address.update(sealed_piece)
    sealed = sealing.finish()
    with memoryview(sealed) as whole, whole[-TAG_SIZE:] as tag:
        address.update(tag)
    return SealedFile(
        sealed=sealed,
        address=address.hexdigest(),
        content_sha256=plain.digest() if hash_content else b"",
    )
