"""The log's tree heads and proofs in the transparency-log formats others already check.

- A **checkpoint** (c2sp.org/tlog-checkpoint) is the text of a signed note
  (storage/signed_note.py) naming the log and its head, three lines::

      <origin>                  who keeps the log, e.g. haven.example.org/evidence
      <tree size>               decimal, no leading zeroes
      <root hash>               base64 of the RFC 9162 root at that size

  Haven signs it with the log's Ed25519 key under the key name ``<origin>``.
- A **proof** (c2sp.org/tlog-proof@v1) proves one entry is in the log: the entry's
  index, its RFC 9162 audit path (base64, one hash a line), a blank line and the signed
  checkpoint verbatim::

      c2sp.org/tlog-proof@v1
      [extra <base64>]          opaque, unauthenticated; Haven writes none
      index <n>
      <hash>…

      <signed checkpoint>

The entry's leaf hash is the verifier's own business (SHA-256(0x00 || entry)): a Haven
bundle has the entry next to the proof, as ``leaves/NNN.bin``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage import signed_note
from storage.merkle import HASH_SIZE, verify_inclusion
from storage.signed_note import NoteError, NoteVerifier

PROOF_HEADER = "c2sp.org/tlog-proof@v1"
PROOF_SUFFIX = ".tlog-proof"
_MAX_PROOF_HASHES = 64
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_ORIGIN_BAD = re.compile(r"[\x00-\x1f\x7f]")
_U64_LIMIT = 1 << 64


class TlogError(ValueError):
    """A checkpoint or a proof is malformed or does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_origin(self.origin)
        if not 0 <= self.size < _U64_LIMIT:
            raise TlogError("a tree size fits in 64 bits")
        if len(self.root) != HASH_SIZE:
            raise TlogError(f"a root hash is {HASH_SIZE} bytes")

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise TlogError("a checkpoint is at least three non-empty lines")
        origin, size, root = lines[:3]
        if not _DECIMAL.fullmatch(size):
            raise TlogError("a checkpoint's second line is the tree size in decimal")
        try:
            return cls(origin, int(size), _hash(root), tuple(lines[3:-1]))
        except ValueError as exc:
            raise TlogError(f"checkpoint: {exc}") from exc


def check_origin(origin: str) -> None:
    """Non-empty, one line, no spaces or '+': usable as the signing key's name too."""
    if not origin or _ORIGIN_BAD.search(origin):
        raise TlogError("an origin is a non-empty line")
    try:
        signed_note.check_key_name(origin)
    except NoteError as exc:
        raise TlogError(f"origin: {exc}") from exc


def sign_checkpoint(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> str:
    """The checkpoint as a note signed by ``key`` under the name of its origin."""
    return signed_note.sign(checkpoint.text(), checkpoint.origin, key)


def open_checkpoint(note: bytes | str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """The checkpoint of a note one of ``verifiers`` signed, under the origin's name."""
    try:
        opened = signed_note.open_note(note, verifiers)
    except NoteError as exc:
        raise TlogError(f"checkpoint: {exc}") from exc
    checkpoint = Checkpoint.from_text(opened.text)
    if not any(signature.name == checkpoint.origin for signature in opened.signatures):
        raise TlogError("the checkpoint is not signed under its origin's name")
    return checkpoint


@dataclass(frozen=True)
class TlogProof:
    index: int
    audit_path: tuple[bytes, ...]
    checkpoint: str
    """The signed checkpoint note, verbatim."""
    extra: bytes | None = None

    def to_text(self) -> str:
        lines = [PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(node).decode() for node in self.audit_path]
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, text: str) -> TlogProof:
        head, blank, checkpoint = text.partition("\n\n")
        lines = head.split("\n")
        if not blank or lines[0] != PROOF_HEADER:
            raise TlogError(f"a proof starts with {PROOF_HEADER!r} and has a blank line")
        extra = None
        rest = lines[1:]
        if rest and rest[0].startswith("extra "):
            extra = _b64(rest[0].removeprefix("extra "), "extra data")
            rest = rest[1:]
        if not rest or not rest[0].startswith("index "):
            raise TlogError("a proof names its entry: 'index N'")
        number = rest[0].removeprefix("index ")
        if not _DECIMAL.fullmatch(number) or int(number) >= _U64_LIMIT:
            raise TlogError("a proof's index is a decimal number without leading zeroes")
        if len(rest) - 1 > _MAX_PROOF_HASHES:
            raise TlogError(f"a proof has at most {_MAX_PROOF_HASHES} hashes")
        path = tuple(_hash(line) for line in rest[1:])
        return cls(int(number), path, checkpoint, extra)

    def verify(self, leaf_hash: bytes, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
        """The checkpoint, once its signature and the entry's inclusion both check."""
        checkpoint = open_checkpoint(self.checkpoint, verifiers)
        if self.index >= checkpoint.size:
            raise TlogError(f"entry {self.index} is outside the tree of {checkpoint.size}")
        if not verify_inclusion(
            leaf_hash, self.index, checkpoint.size, self.audit_path, checkpoint.root
        ):
            raise TlogError("the inclusion proof does not lead to the checkpoint's root")
        return checkpoint


def _hash(text: str) -> bytes:
    value = _b64(text, "hash")
    if len(value) != HASH_SIZE:
        raise TlogError(f"a hash is {HASH_SIZE} bytes")
    return value


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TlogError(f"the {what} is not base64") from None
