"""Envelope encryption for evidence: per-case data keys wrapped by the master key.

Two layers, both AES-256-GCM (``cryptography``'s :class:`AESGCM`):

- **Data keys.** Each case has its own random 32-byte data key (:func:`new_data_key`).
  The database stores it only *wrapped* by the master key (:func:`wrap`), next to the
  master key's ``key_id`` (see :class:`storage.keys.KeyRing`).
- **Items.** Each piece of content (a forwarded message, a screenshot, a document) is
  sealed with its case's data key (:func:`seal`) and stored as ciphertext, in the
  database or the blob store.

Formats (all integers fixed-width, so nothing needs parsing beyond slicing)::

    wrapped key  = 0x01 || nonce (12) || AES-GCM(master, data key) (32 + 16 tag) = 61 bytes
    sealed item  = 0x01 || nonce (12) || AES-GCM(data key, plaintext) (len + 16 tag)

Associated data. GCM authenticates, besides the ciphertext, some *associated data* that
is not stored with it but must be supplied again to decrypt. Haven binds:

- a wrapped key to ``b"haven-dk-v1|case=<case id>"``: a wrapped key copied onto another
  case's row does not unwrap, so one case's key cannot be made to open another case;
- a sealed item to ``b"haven-item-v1|item=<item id>"``: ciphertext moved or swapped
  between items fails to open instead of silently showing the wrong evidence.

The version byte is authenticated too, and the two labels differ, so a wrapped key can
never be opened as an item or the other way round.

Nonces. Every encryption draws a fresh random 96-bit nonce. GCM breaks if a nonce ever
repeats under one key; with random nonces the chance stays negligible as long as one key
encrypts far fewer than 2**32 messages (NIST SP 800-38D §8.3). Per-case data keys keep
each key's count tiny (a case holds hundreds of items, not billions), and the master key
wraps one data key per case and per rotation — also far below the bound.

Rotation. :func:`rewrap` re-encrypts a data key under a new master key; content sealed
with the data key is untouched, so rotating the master key costs one small write per case.

Crypto-shredding. Erasing a case is done by the caller deleting the case's wrapped data
key (once no legal hold applies). Without the data key, every copy of that case's
ciphertext — the blob store, database pages, backups, copies nobody knows about — is
indistinguishable from random noise; nothing needs to be found and overwritten. Deleting
the blobs afterwards (:meth:`storage.blobs.BlobStore.delete`) only reclaims space.

All failures raise :class:`VaultError` with a one-line message that never contains key
material or plaintext.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.keys import MasterKey

DATA_KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
VERSION = 1
_VERSION_BYTE = bytes([VERSION])
HEADER_SIZE = 1 + NONCE_SIZE
WRAPPED_KEY_SIZE = HEADER_SIZE + DATA_KEY_SIZE + TAG_SIZE  # 61
SEAL_OVERHEAD = HEADER_SIZE + TAG_SIZE  # 29 bytes added to every sealed item

_DK_LABEL = b"haven-dk-v1|case="
_ITEM_LABEL = b"haven-item-v1|item="
_EVENT_LABEL = b"haven-intake-v1|event="


class VaultError(Exception):
    """Encryption or decryption failed. One line; never contains keys or plaintext."""


def new_data_key() -> bytes:
    """A fresh 32-byte AES-256 data key from the operating system's CSPRNG."""
    return os.urandom(DATA_KEY_SIZE)


def wrap(master: MasterKey, data_key: bytes, case_id: int) -> bytes:
    """Encrypt ``data_key`` under ``master``, bound to ``case_id``. Returns 61 bytes."""
    _check_data_key(data_key)
    return _encrypt(master.secret, data_key, _dk_aad(case_id))


def unwrap(master: MasterKey, wrapped: bytes, case_id: int) -> bytes:
    """The data key inside ``wrapped``; :class:`VaultError` unless it is intact, was
    wrapped by ``master`` and belongs to ``case_id``."""
    aad = _dk_aad(case_id)
    if len(wrapped) != WRAPPED_KEY_SIZE:
        raise VaultError(
            f"wrapped data key for case {case_id} is {len(wrapped)} bytes, "
            f"expected {WRAPPED_KEY_SIZE}"
        )
    return _decrypt(
        AESGCM(master.secret),
        wrapped,
        aad,
        f"the data key of case {case_id}",
        f"wrong master key (tried {master.key_id}), wrong case, or the wrapped key was altered",
    )


def rewrap(old: MasterKey, new: MasterKey, wrapped: bytes, case_id: int) -> bytes:
    """Move a wrapped data key from ``old`` to ``new`` (master key rotation).

    The data key itself does not change, so nothing sealed with it is re-encrypted.
    """
    return wrap(new, unwrap(old, wrapped, case_id), case_id)


def seal(data_key: bytes, plaintext: bytes, item_id: str) -> bytes:
    """Encrypt one item's content with its case's data key, bound to ``item_id``."""
    _check_data_key(data_key)
    return _encrypt(data_key, plaintext, _item_aad(item_id))


def seal_joined(data_key: bytes, parts: Sequence[bytes], item_id: str) -> bytearray:
    """``seal(data_key, b"".join(parts), item_id)`` — the same format — without joining
    the parts first or copying the ciphertext behind its header: for a 20 MB file, two
    passes over its bytes fewer. The one-shot AESGCM takes a single buffer, so this uses
    the streaming form of the same AES-256-GCM (:class:`Sealing`)."""
    sealing = Sealing(data_key, item_id, sum(len(part) for part in parts))
    for part in parts:
        sealing.update(part).release()
    return sealing.finish()


class Sealing:
    """One item sealed piece by piece into a buffer of its final size, in :func:`seal`'s
    format, so that whoever feeds it can look at each piece — and at what it became —
    while both are still in the processor's cache (storage/sealed_files.py hashes them).

    With a ``window``, each piece (none larger) is sealed into the same buffer of that
    size instead, for a caller who takes every piece as it comes and keeps the item
    nowhere whole (storage/sealed_files.py ``seal_file_into``): each piece is then valid
    until the next :meth:`update`, and :meth:`finish` gives the header and the tag only."""

    def __init__(self, data_key: bytes, item_id: str, size: int, window: int | None = None) -> None:
        _check_data_key(data_key)
        nonce = os.urandom(NONCE_SIZE)
        self._reuse = window is not None
        room = size if window is None else window
        # update_into may need up to a block (16 bytes) more room than it writes.
        self._sealed = bytearray(HEADER_SIZE + room + TAG_SIZE + 15)
        self._sealed[:HEADER_SIZE] = _VERSION_BYTE + nonce
        self._view = memoryview(self._sealed)
        self._end = HEADER_SIZE
        self._encryptor = Cipher(algorithms.AES(data_key), modes.GCM(nonce)).encryptor()
        self._encryptor.authenticate_additional_data(_VERSION_BYTE + _item_aad(item_id))

    @property
    def header(self) -> memoryview:
        """The format's version byte and the nonce: the sealed item's first bytes."""
        return self._view[:HEADER_SIZE]

    def update(self, piece: bytes | memoryview) -> memoryview:
        """Seal the next piece; the ciphertext it gave, valid until :meth:`finish` (release
        it before: the buffer is trimmed then), or with a window until the next update."""
        start = HEADER_SIZE if self._reuse else self._end
        written = self._encryptor.update_into(piece, self._view[start:])
        if not self._reuse:
            self._end += written
        return self._view[start : start + written]

    def finish(self) -> bytearray:
        """The sealed item, its tag appended: the tag is its last ``TAG_SIZE`` bytes."""
        self._encryptor.finalize()
        end = self._end + TAG_SIZE
        self._view[self._end : end] = self._encryptor.tag
        self._view.release()
        del self._sealed[end:]
        return self._sealed


def open_sealed(data_key: bytes, sealed: bytes, item_id: str) -> bytes:
    """The plaintext of ``sealed``; :class:`VaultError` unless it is intact, was sealed
    with ``data_key`` and belongs to ``item_id``."""
    _check_data_key(data_key)
    aad = _item_aad(item_id)
    if len(sealed) < SEAL_OVERHEAD:
        raise VaultError(
            f"sealed item {item_id!r} is {len(sealed)} bytes, shorter than the "
            f"{SEAL_OVERHEAD}-byte minimum"
        )
    return _decrypt(
        AESGCM(data_key),
        sealed,
        aad,
        f"item {item_id!r}",
        "wrong data key, wrong item, or the ciphertext was altered",
    )


class ItemOpener:
    """:func:`open_sealed` for many items of one case, the key prepared once (a search
    opens thousands of small items, and preparing the key each time doubled the cost)."""

    def __init__(self, data_key: bytes) -> None:
        _check_data_key(data_key)
        self._cipher = AESGCM(data_key)

    def open(self, sealed: bytes, item_id: str) -> bytes:
        aad = _item_aad(item_id)
        if len(sealed) < SEAL_OVERHEAD:
            raise VaultError(f"sealed item {item_id!r} is shorter than the minimum")
        return _decrypt(
            self._cipher,
            sealed,
            aad,
            f"item {item_id!r}",
            "wrong data key, wrong item, or the ciphertext was altered",
        )


def seal_event(master: MasterKey, plaintext: bytes, event_id: str) -> bytes:
    """Encrypt an inbound event waiting in the intake journal (before any case key may
    exist) under the master key, bound to ``event_id`` (its platform, chat, message)."""
    return _encrypt(master.secret, plaintext, _EVENT_LABEL + event_id.encode())


def open_event(master: MasterKey, sealed: bytes, event_id: str) -> bytes:
    return _decrypt(
        AESGCM(master.secret),
        sealed,
        _EVENT_LABEL + event_id.encode(),
        "a journaled inbound event",
        f"wrong master key (tried {master.key_id}) or the row was altered",
    )


# --- internals -------------------------------------------------------------------------


def _encrypt(key: bytes, plaintext: bytes, label: bytes) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    header = _VERSION_BYTE + nonce
    try:
        ciphertext = AESGCM(key).encrypt(nonce, plaintext, _VERSION_BYTE + label)
    except (OverflowError, ValueError, TypeError) as exc:
        raise VaultError(f"encryption failed: {type(exc).__name__}") from None
    return header + ciphertext


def _decrypt(cipher: AESGCM, blob: bytes, label: bytes, what: str, why: str) -> bytes:
    if blob[:1] != _VERSION_BYTE:
        raise VaultError(f"cannot decrypt {what}: unknown format version {blob[0]}")
    nonce = blob[1:HEADER_SIZE]
    try:
        return cipher.decrypt(nonce, blob[HEADER_SIZE:], _VERSION_BYTE + label)
    except (InvalidTag, OverflowError, ValueError, TypeError):
        raise VaultError(f"cannot decrypt {what}: {why}") from None


def _check_data_key(data_key: bytes) -> None:
    if not isinstance(data_key, bytes) or len(data_key) != DATA_KEY_SIZE:
        raise VaultError(f"a data key must be exactly {DATA_KEY_SIZE} bytes")


def _dk_aad(case_id: int) -> bytes:
    if isinstance(case_id, bool) or not isinstance(case_id, int) or case_id < 0:
        raise VaultError("case id must be a non-negative integer")
    return _DK_LABEL + str(case_id).encode("ascii")


def _item_aad(item_id: str) -> bytes:
    if not isinstance(item_id, str) or not item_id:
        raise VaultError("item id must be a non-empty string")
    try:
        return _ITEM_LABEL + item_id.encode("utf-8")
    except UnicodeEncodeError:
        raise VaultError("item id is not valid Unicode text") from None
