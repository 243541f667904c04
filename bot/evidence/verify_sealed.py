"""The checks only a version 2 bundle allows: its checkpoint, its tlog proofs, its signed
manifest, SHA256SUMS, its extraction record and its RFC 3161 timestamps.

:mod:`bot.evidence.verify` runs these after the checks every bundle gets. Each finding
goes to the caller's ``find``; nothing here raises for anything the bundle contains.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.evidence.bundle import (
    CHECKPOINT,
    MANIFEST_NOTE,
    SUMS,
    VKEY,
    ItemRecord,
    Manifest,
    manifest_note_text,
)
from bot.evidence.safezip import MiB, SafeZip
from bot.evidence.tsa import TokenError, TokenFacts, check_token, read_token
from storage.leaves import utc_stamp
from storage.merkle import TreeHead, verify_inclusion
from storage.signed_note import NoteError, NoteVerifier, open_note, parse_vkey
from storage.tlog import Checkpoint, TlogError, TlogProof, open_checkpoint

TrustedKey = Ed25519PublicKey | NoteVerifier
"""A key obtained apart from the bundle: a PEM public key, or a vkey (which names the log)."""
Find = Callable[[str, str, str], None]
"""``find(problem, subject, detail)``, problem being a :class:`verify.Problem` value."""

_MAX_NOTE_BYTES = MiB
_MAX_SUMS_BYTES = 32 * MiB
_MAX_TOKEN_BYTES = 64 * 1024
_SUMS_LINE = re.compile(r"([0-9a-f]{64})  (.+)")


@dataclass(frozen=True)
class StampResult:
    file: str
    url: str
    facts: TokenFacts | None
    ok: bool | None
    """None when no --tsa-ca was given to check it with."""


@dataclass(frozen=True)
class Sealing:
    checkpoint: Checkpoint | None
    manifest_signed: bool
    trusted_ok: bool | None
    stamps: tuple[StampResult, ...]
    sums: Mapping[str, bytes]


class SealedChecks:
    def __init__(
        self,
        archive: SafeZip,
        manifest: Manifest,
        manifest_bytes: bytes,
        bundle_key: bytes,
        trusted: TrustedKey | None,
        tsa_roots: list[x509.Certificate] | None,
        find: Find,
    ) -> None:
        self._archive = archive
        self._manifest = manifest
        self._manifest_bytes = manifest_bytes
        self._bundle = NoteVerifier.for_key(manifest.origin, bundle_key)
        self._trusted = _named(trusted, manifest.origin)
        self._tsa_roots = tsa_roots
        self._find = find

    def run(self, head: TreeHead) -> Sealing:
        signed = self._manifest_note(self._bundle, "signature")
        trusted_ok = None
        if self._trusted is not None:
            trusted_ok = self._manifest_note(self._trusted, "trusted_key")
        self._vkey()
        checkpoint = self._checkpoint(head)
        if self._trusted is not None and not self._opens(self._trusted):
            trusted_ok = False
            self._find("trusted_key", "checkpoint", "not signed by the --key key")
        sums = self._sums()
        self._records()
        return Sealing(checkpoint, signed, trusted_ok, self._stamps(), sums)

    def proof(
        self, subject: str, leaf_hash: bytes, record_index: int, name: str, sealing: Sealing
    ) -> bool:
        """The tlog proof at ``name`` carries the bundle's checkpoint and proves the leaf."""
        checkpoint = sealing.checkpoint
        try:
            proof = TlogProof.from_text(self._text(name, _MAX_NOTE_BYTES))
        except (TlogError, UnicodeDecodeError) as exc:
            self._find("format", subject, f"{name}: {exc}")
            return False
        if checkpoint is None:
            return False
        if proof.checkpoint.encode() != self._archive.read(CHECKPOINT, _MAX_NOTE_BYTES):
            self._find("inconsistent", subject, f"{name} carries another checkpoint")
            return False
        if proof.index != record_index:
            self._find("inconsistent", subject, f"{name} is for entry {proof.index}")
            return False
        if not verify_inclusion(
            leaf_hash, proof.index, checkpoint.size, proof.audit_path, checkpoint.root
        ):
            self._find("inclusion", subject, f"{name} does not lead to the checkpoint's root")
            return False
        return True

    def details(self, subject: str, record: ItemRecord, leaf: Mapping[str, object]) -> None:
        """What the manifest says of the item's times, origin and case, against its leaf."""
        details = record.details
        if details is None:
            return
        expected = {
            "received_at": utc_stamp(details.received_at),
            "original_date": utc_stamp(details.original_date) if details.original_date else None,
            "case": _int(self._manifest.case_id),
            "item": f"{self._manifest.case_id}-{record.number}",
        }
        differ = sorted(key for key, value in expected.items() if leaf.get(key) != value)
        origin = details.origin
        committed = origin.commitment(record.salt) if origin is not None else None
        if committed != leaf.get("origin_commitment"):
            differ.append("origin (sender, chat)")
        if differ:
            self._find(
                "inconsistent", subject, f"the manifest's {', '.join(differ)} differ from the log"
            )

    # ---- the parts ----------------------------------------------------------------------

    def _manifest_note(self, verifier: NoteVerifier, problem: str) -> bool:
        wanted = manifest_note_text(self._manifest.origin, self._manifest_bytes)
        try:
            note = open_note(self._archive.read(MANIFEST_NOTE, _MAX_NOTE_BYTES), [verifier])
        except NoteError as exc:
            key = "the --key key" if problem == "trusted_key" else "the bundle's key"
            self._find(problem, "manifest", f"{MANIFEST_NOTE} is not signed by {key} ({exc})")
            return False
        if note.text != wanted:
            self._find("inconsistent", "manifest", f"{MANIFEST_NOTE} signs another manifest")
            return False
        return True

    def _vkey(self) -> None:
        try:
            published = parse_vkey(self._text(VKEY, _MAX_NOTE_BYTES))
        except (NoteError, UnicodeDecodeError) as exc:
            self._find("format", "log key", f"{VKEY}: {exc}")
            return
        if published != self._bundle:
            self._find("inconsistent", "log key", f"{VKEY} is not the bundle's key and origin")

    def _checkpoint(self, head: TreeHead) -> Checkpoint | None:
        try:
            checkpoint = open_checkpoint(
                self._archive.read(CHECKPOINT, _MAX_NOTE_BYTES), [self._bundle]
            )
        except TlogError as exc:
            self._find("signature", "checkpoint", str(exc))
            return None
        if (checkpoint.size, checkpoint.root) != (head.size, head.root):
            self._find("inconsistent", "checkpoint", "it names another tree than sth.bin")
        if checkpoint.origin != self._manifest.origin:
            self._find("inconsistent", "checkpoint", "its origin is not the manifest's")
        return checkpoint

    def _opens(self, verifier: NoteVerifier) -> bool:
        try:
            open_checkpoint(self._archive.read(CHECKPOINT, _MAX_NOTE_BYTES), [verifier])
        except TlogError:
            return False
        return True

    def _sums(self) -> dict[str, bytes]:
        """SHA256SUMS: its own hash as the manifest gives it, then every file it lists
        but the items (hashed with their other checks, in one pass)."""
        data = self._archive.read(SUMS, _MAX_SUMS_BYTES)
        sealed = self._manifest.sealed
        if sealed is None or hashlib.sha256(data).digest() != sealed.sums:
            self._find("inconsistent", "SHA256SUMS", "its hash is not the one in the manifest")
        listed: dict[str, bytes] = {}
        for line in data.decode("utf-8", errors="replace").splitlines():
            match = _SUMS_LINE.fullmatch(line)
            if match is None:
                self._find("format", "SHA256SUMS", "a line is not 'HASH  FILE'")
                return listed
            listed[match[2]] = bytes.fromhex(match[1])
        if sorted(listed) != self._manifest.summed_files():
            self._find("inconsistent", "SHA256SUMS", "it does not list the bundle's files")
        items = {item.file for item in self._manifest.items}
        for name, digest in listed.items():
            if name in items or name not in self._archive.names:
                continue
            if _hash(self._archive, name) != digest:
                self._find("content_hash", name, "its SHA-256 is not the one in SHA256SUMS")
        return listed

    def _records(self) -> None:
        sealed = self._manifest.sealed
        for name, digest in sealed.records if sealed else ():
            if _hash(self._archive, name) != digest:
                self._find("content_hash", name, "its SHA-256 is not the one in the manifest")

    def _stamps(self) -> tuple[StampResult, ...]:
        manifest = self._manifest
        if self._tsa_roots is not None and not manifest.timestamps:
            self._find("timestamp", "timestamp", "the bundle has no timestamp token to check")
        checkpoint = self._archive.read(CHECKPOINT, _MAX_NOTE_BYTES)
        results = []
        for name, url in zip(manifest.timestamp_files, manifest.timestamps, strict=True):
            token = self._archive.read(name, _MAX_TOKEN_BYTES)
            try:
                facts = read_token(token)
            except TokenError as exc:
                self._find("timestamp", name, str(exc))
                results.append(StampResult(name, url, None, False))
                continue
            ok = None
            if self._tsa_roots is not None:
                try:
                    check_token(token, checkpoint, self._tsa_roots)
                    ok = True
                except TokenError as exc:
                    ok = False
                    self._find("timestamp", name, str(exc))
            results.append(StampResult(name, url, facts, ok))
        return tuple(results)

    def _text(self, name: str, cap: int) -> str:
        return self._archive.read(name, cap).decode("utf-8")


def leaf_fields(data: bytes) -> dict[str, object]:
    """A leaf's JSON object, or {} when it is none (its other checks say so)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _named(trusted: TrustedKey | None, origin: str) -> NoteVerifier | None:
    if trusted is None or isinstance(trusted, NoteVerifier):
        return trusted
    raw = trusted.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return NoteVerifier.for_key(origin, raw)


def _hash(archive: SafeZip, name: str) -> bytes:
    digest = hashlib.sha256()
    for chunk in archive.chunks(name):
        digest.update(chunk)
    return digest.digest()


def _int(text: str) -> int | str:
    return int(text) if text.isdigit() else text
