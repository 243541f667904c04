"""Signed notes (c2sp.org/signed-note): text signed by Ed25519 keys, checkable by anyone.

A note is a text ending in a newline, a blank line, and one or more signature lines::

    <text, ending in a newline>
    (blank line)
    — <key name> base64(4-byte key ID || 64-byte Ed25519 signature of the text)

The key ID is SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]. A key is
published as a *verifier key* (vkey) ``<name>+<hex key ID>+base64(0x01 || public key)``,
which is all a verifier needs. Haven signs its checkpoints (storage/tlog.py) and the
manifest of each evidence bundle this way, with the log's key, so they check with any
signed-note implementation (Go's golang.org/x/mod/sumdb/note, for one).

Verification follows the specification: signatures by unknown keys (name and ID not both
matching a given verifier) are ignored; a signature of a known key that fails rejects the
note; a note with no verified signature is rejected. Notes are bounded in size and in
signatures before anything is parsed, since they arrive in bundles nobody vouches for.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
_DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
# Standard base64 with its padding, and nothing else: Python's strict decoder still takes
# "AAAA=" for "AAAA", which Go's (golang.org/x/mod/sumdb/note) refuses.
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


class NoteError(ValueError):
    """A note, a signature line or a verifier key is malformed, or does not verify."""


@dataclass(frozen=True)
class NoteVerifier:
    """A public key as a signed note names it: key name, key ID and the Ed25519 key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def for_key(cls, name: str, public_key: bytes) -> NoteVerifier:
        check_key_name(name)
        if len(public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")
        return cls(name, key_id(name, public_key), public_key)

    def vkey(self) -> str:
        """``<name>+<hex key ID>+<base64(0x01 || key)>``."""
        material = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verifies(self, text: bytes, signature: bytes) -> bool:
        key = Ed25519PublicKey.from_public_bytes(self.public_key)
        try:
            key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A parsed note: its text (with the final newline) and its signature lines."""

    text: str
    signatures: tuple[Signature, ...]


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    if not _NAME.fullmatch(name) or _CONTROL.search(name):
        raise NoteError("a key name must be non-empty, without spaces or '+'")


def verifier_of(name: str, private_key: Ed25519PrivateKey) -> NoteVerifier:
    raw = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return NoteVerifier.for_key(name, raw)


def parse_vkey(text: str) -> NoteVerifier:
    """A verifier key; NoteError unless it is a well-formed Ed25519 one."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is NAME+KEYID+KEY")
    name, hex_id, material = parts
    check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise NoteError("a verifier key's ID is 8 lowercase hex digits")
    raw = _b64(material, "verifier key")
    if len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("not an Ed25519 verifier key")
    verifier = NoteVerifier.for_key(name, raw[1:])
    if verifier.key_id.hex() != hex_id:
        raise NoteError("the verifier key's ID does not match its name and key")
    return verifier


def sign(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """The note: ``text`` (which must end in a newline), a blank line, one signature."""
    _check_text(text)
    verifier = verifier_of(name, private_key)
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(verifier.key_id + signature).decode()
    return f"{text}\n{_DASH}{name} {encoded}\n"


def parse(note: bytes | str) -> Note:
    """Split a note into its text and signatures; NoteError if it is malformed."""
    data = note.encode() if isinstance(note, str) else note
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(f"a note is at most {MAX_NOTE_BYTES} bytes")
    try:
        whole = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteError("a note must be UTF-8") from None
    if _CONTROL.search(whole):
        raise NoteError("a note must not contain control characters other than newline")
    if not whole.endswith("\n"):
        raise NoteError("a note must end with a newline")
    split = whole.rfind("\n\n")
    if split < 0:
        raise NoteError("a note needs a blank line before its signatures")
    text, lines = whole[: split + 1], whole[split + 2 :].splitlines()
    if not lines or len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note has 1 to {MAX_SIGNATURES} signature lines")
    return Note(text, tuple(_signature(line) for line in lines))


def open_note(note: bytes | str, verifiers: Sequence[NoteVerifier]) -> Note:
    """The note if a known key signed it and no known key's signature fails."""
    parsed = parse(note)
    text = parsed.text.encode()
    known = [
        (signature, verifier)
        for signature in parsed.signatures
        for verifier in verifiers
        if (verifier.name, verifier.key_id) == (signature.name, signature.key_id)
    ]
    if not known:
        raise NoteError("no signature by a known key")
    for signature, verifier in known:
        if not verifier.verifies(text, signature.signature):
            raise NoteError(f"the signature of {signature.name} does not verify")
    return parsed


def _signature(line: str) -> Signature:
    if not line.startswith(_DASH):
        raise NoteError("a signature line starts with an em dash and a space")
    name, space, encoded = line[len(_DASH) :].partition(" ")
    if not space:
        raise NoteError("a signature line is: em dash, key name, base64 signature")
    check_key_name(name)
    raw = _b64(encoded, "signature")
    if len(raw) < 5:
        raise NoteError("a signature is a 4-byte key ID and at least one byte")
    return Signature(name, raw[:4], raw[4:])


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or _CONTROL.search(text):
        raise NoteError("a note's text ends in a newline, with no blank line or control code")


def _b64(text: str, what: str) -> bytes:
    if not _BASE64.fullmatch(text):
        raise NoteError(f"the {what} is not base64")
    return base64.b64decode(text)
