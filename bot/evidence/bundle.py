"""The evidence bundle format: a zip that lets anyone check Haven's evidence without Haven.

Contract with evidence intake (bot/evidence/intake.py) and the log leaves (storage/leaves.py)
------------------------------------------------------------------------------------------
- An evidence item's log leaf data is the UTF-8 bytes of a JSON object: the item's
  canonical metadata. A bundle carries those bytes unchanged (they are what the log
  hashed) and otherwise treats them as opaque, except for the keys a verifier checks
  against the item's file:

      "content_commitment"  required, 64 lowercase hex digits, made as "v" says:
                            1 (or absent): SHA-256(salt || content)
                            2: SHA-256("haven-content-v2\n" || salt || SHA-256(content))
      "v"                   optional, 1 or 2: the commitment's scheme
      "size"                optional, a whole number: len(content)
      "sha256"              optional, 64 lowercase hex digits: SHA-256(content)

  where content is the exact bytes received and salt is the item's own 32 random bytes
  (``storage.leaves.SALT_SIZE``), kept encrypted with the content. Intake leaves out the
  plain SHA-256 on purpose: leaves outlive crypto-shredding, and a salted hash says
  nothing about a short text. An export decrypts the salt and writes it into the
  manifest, with the content's plain SHA-256 (the one the victim's receipt shows), so
  whoever holds the bundle can check both; the commitment is what the signature covers.
- Custody events (who read, exported, erased…) are leaves of the same log; a bundle
  carries their leaf data opaque, with inclusion proofs only.
- The tree head is :class:`storage.merkle.TreeHead`, signed with the log's Ed25519 key
  over ``TreeHead.to_bytes()``; every inclusion proof in a bundle is against that one head.

Layout of the zip (NNN is the item number, zero-padded to three digits)::

    README.txt            what each file is and how to check it by hand, in the case's
                          language and in English
    manifest.json         the machine-readable index (:class:`Manifest`)
    items/NNN-<name>      the evidence, byte for byte; <name> is sanitised
    leaves/NNN.bin        the item's leaf data
    proofs/NNN.json       its inclusion proof (:class:`ProofFile`)
    custody/NNN.bin       a custody event's leaf data
    custody/NNN.json      its inclusion proof
    timeline.txt          the incident timeline, readable (absent from older bundles)
    timeline.json         the same timeline for programs: each entry's time, how sure
                          that time is, and what it rests on (an item number, a note…)
    sth.bin               the signed tree head, exactly the bytes that were signed
    sth.json              the same head, readable, with its signature in hex
    sth.sig               the raw 64-byte Ed25519 signature of sth.bin
    log-public-key.pem    the log's public key (SubjectPublicKeyInfo PEM)

The timeline files are the victim's account put in order (bot/evidence/timeline.py); they are
not in the log and carry no proof of their own. The manifest names them under
"timeline" when a bundle has them, and a verifier checks that every item number they
rest on is an item of the bundle. A bundle without them (exported before they existed)
verifies as before.

Writing is :mod:`bot.evidence.bundle_writer`; checking is :mod:`bot.evidence.verify`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.content.playbook import LOCALES
from bot.evidence.filenames import sanitise_filename
from storage.leaves import (
    COMMITMENT_CONTENT,
    COMMITMENT_SCHEMES,
    SALT_SIZE,
    Origin,
    commitment_of,
    utc_stamp,
)
from storage.merkle import HASH_SIZE, TreeHead

FORMAT = "haven-evidence-bundle"
VERSION = 1
"""Bundles without a checkpoint: the legacy head (sth.*) and JSON proofs only."""
VERSION_CHECKPOINTS = 2
"""Bundles with a C2SP checkpoint, tlog proofs, a signed manifest, SHA256SUMS and an
extraction record, besides everything version 1 has."""
SIGNATURE_SIZE = 64
LEAF_COMMITMENT = "content_commitment"
LEAF_SIZE = "size"
LEAF_SHA256 = "sha256"
LEAF_SCHEME = "v"
COMMITMENT_FORMULAS = {
    1: "SHA-256(salt || content)",
    2: 'SHA-256("haven-content-v2\\n" || salt || SHA-256(content))',
}
"""What each scheme of "content_commitment" is, as the manifest and the reports say."""

README = "README.txt"
MANIFEST = "manifest.json"
STH_BIN = "sth.bin"
STH_JSON = "sth.json"
STH_SIG = "sth.sig"
PUBLIC_KEY = "log-public-key.pem"
FIXED_FILES = (README, MANIFEST, STH_BIN, STH_JSON, STH_SIG, PUBLIC_KEY)
TIMELINE_TEXT = "timeline.txt"
TIMELINE_JSON = "timeline.json"
TIMELINE_FILES = (TIMELINE_TEXT, TIMELINE_JSON)
CHECKPOINT = "checkpoint"
VKEY = "log-public-key.vkey"
MANIFEST_NOTE = "manifest.note"
SUMS = "SHA256SUMS"
RECORD_CSV = "extraction-record.csv"
RECORD_PDF = "extraction-record.pdf"
RECORD_FILES = (RECORD_CSV, RECORD_PDF)
FIXED_FILES_V2 = (*FIXED_FILES, CHECKPOINT, VKEY, MANIFEST_NOTE, SUMS, *RECORD_FILES)
MANIFEST_NOTE_LINE = "haven-bundle-manifest-v1"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_KIND = re.compile(r"[a-z][a-z0-9_]{0,31}")
_ORIGIN_FIELDS = (
    "kind",
    "sender_name",
    "sender_id",
    "chat_title",
    "message_id",
    "author_signature",
    "permalink",
)
# A proof has one element per tree level; 64 covers any tree a 64-bit size allows.
_MAX_PROOF_LENGTH = 64


class BundleFormatError(ValueError):
    """A bundle file is malformed; the message names the file and what is wrong."""


def item_path(number: int, name: str) -> str:
    return f"items/{number:03d}-{name}"


def leaf_path(number: int) -> str:
    return f"leaves/{number:03d}.bin"


def proof_path(number: int) -> str:
    return f"proofs/{number:03d}.json"


def tlog_proof_path(number: int) -> str:
    return f"proofs/{number:03d}.tlog-proof"


def custody_tlog_proof_path(number: int) -> str:
    return f"custody/{number:03d}.tlog-proof"


def timestamp_path(number: int) -> str:
    return f"timestamps/{number:02d}.tsr"


def manifest_note_text(origin: str, manifest: bytes) -> str:
    """What manifest.note signs: the log's name, what this is, the manifest's SHA-256.
    Its second line is no number, so no checkpoint parser can mistake it for a head."""
    digest = hashlib.sha256(manifest).hexdigest()
    return f"{origin}\n{MANIFEST_NOTE_LINE}\nsha256 {digest}\n"


def custody_leaf_path(number: int) -> str:
    return f"custody/{number:03d}.bin"


def custody_proof_path(number: int) -> str:
    return f"custody/{number:03d}.json"


def key_fingerprint(raw_key: bytes) -> bytes:
    """SHA-256 of the raw 32-byte public key, to compare with one published elsewhere."""
    return hashlib.sha256(raw_key).digest()


def public_key_pem(raw_key: bytes) -> bytes:
    key = Ed25519PublicKey.from_public_bytes(raw_key)
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def head_time(head: TreeHead) -> dt.datetime:
    """When the head was signed; ValueError past the year 9999, which only a forgery is."""
    try:
        return _EPOCH + dt.timedelta(milliseconds=head.timestamp_ms)
    except OverflowError as exc:
        raise ValueError("the tree head's timestamp is past the year 9999") from exc


def utc_text(moment: dt.datetime) -> str:
    """``2025-05-01T08:30:00Z``: UTC, to the second, unambiguous in any locale."""
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LeafClaims:
    """What an item's leaf data says about its content (see the contract above)."""

    commitment: bytes
    size: int | None
    sha256: bytes | None
    scheme: int = COMMITMENT_CONTENT

    @classmethod
    def from_leaf(cls, leaf_data: bytes, where: str) -> LeafClaims:
        fields = _Fields.parse(leaf_data, where)
        scheme = fields.whole(LEAF_SCHEME) if fields.has(LEAF_SCHEME) else COMMITMENT_CONTENT
        if scheme not in COMMITMENT_SCHEMES:
            raise BundleFormatError(
                f"{where}: commitment scheme {scheme} is not one this Haven reads"
            )
        return cls(
            commitment=fields.hex_bytes(LEAF_COMMITMENT, HASH_SIZE),
            size=fields.whole(LEAF_SIZE) if fields.has(LEAF_SIZE) else None,
            sha256=fields.hex_bytes(LEAF_SHA256, HASH_SIZE) if fields.has(LEAF_SHA256) else None,
            scheme=scheme,
        )

    @property
    def formula(self) -> str:
        return COMMITMENT_FORMULAS[self.scheme]

    def commitment_for(self, salt: bytes, content: bytes, sha256: bytes) -> str:
        """What the commitment is for this content, under this leaf's scheme."""
        return commitment_of(self.scheme, salt, content, sha256)

    def mismatch(self, size: int, sha256: bytes) -> str:
        """What the leaf says differently about the file; empty if nothing."""
        if self.size is not None and self.size != size:
            return f"the log entry gives {self.size} bytes, the file has {size}"
        if self.sha256 is not None and self.sha256 != sha256:
            return "the log entry gives another SHA-256"
        return ""


# ---- what an export hands over -------------------------------------------------------


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.signature) != SIGNATURE_SIZE:
            raise ValueError(f"an Ed25519 signature is {SIGNATURE_SIZE} bytes")

    def to_json(self) -> bytes:
        return _json_bytes(
            {
                "tree_size": self.head.size,
                "timestamp_ms": self.head.timestamp_ms,
                "timestamp": utc_text(head_time(self.head)),
                "root_hash": self.head.root.hex(),
                "signature": self.signature.hex(),
                "signature_algorithm": "Ed25519",
                "signed_bytes": STH_BIN,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> SignedTreeHead:
        fields = _Fields.parse(data, STH_JSON)
        size, root = fields.whole("tree_size"), fields.hex_bytes("root_hash", HASH_SIZE)
        timestamp_ms = fields.whole("timestamp_ms")
        try:
            head = TreeHead(size=size, root=root, timestamp_ms=timestamp_ms)
        except ValueError as exc:
            raise BundleFormatError(f"{STH_JSON}: {exc}") from exc
        return cls(head, fields.hex_bytes("signature", SIGNATURE_SIZE))


@dataclass(frozen=True)
class TimelineFiles:
    """The incident timeline as the export renders it: a readable text and its JSON."""

    text: str
    json: bytes


@dataclass(frozen=True)
class ItemDetails:
    """What a version 2 manifest says of an item besides its file: the times and origin
    its leaf commits to (the origin salted, so the salt lets anyone check these)."""

    received_at: dt.datetime
    original_date: dt.datetime | None
    mime_type: str
    origin: Origin | None

    def to_dict(self) -> dict[str, Any]:
        origin = self.origin
        return {
            "received_at": utc_stamp(self.received_at),
            "original_date": utc_stamp(self.original_date) if self.original_date else None,
            "mime": self.mime_type,
            "origin": None if origin is None else {f: getattr(origin, f) for f in _ORIGIN_FIELDS},
        }

    @classmethod
    def from_fields(cls, fields: _Fields) -> ItemDetails:
        origin = None
        if fields.value("origin") is not None:
            named = fields.nested("origin")
            origin = Origin(**{f: named.text(f) for f in _ORIGIN_FIELDS})
        original = None if fields.value("original_date") is None else fields.time("original_date")
        return cls(fields.time("received_at"), original, fields.text("mime"), origin)


@dataclass(frozen=True)
class BundleItem:
    """One piece of evidence as the export reads it from the vault and the ledger."""

    number: int
    kind: str
    name: str
    content: bytes
    salt: bytes
    leaf_data: bytes
    leaf_index: int
    proof: tuple[bytes, ...]
    details: ItemDetails | None = None

    def __post_init__(self) -> None:
        _check_item(self.number, self.kind, self.name, self.salt)
        _check_proof(self.proof)

    def record(self, version: int = VERSION) -> ItemRecord:
        return ItemRecord(
            number=self.number,
            kind=self.kind,
            name=self.name,
            size=len(self.content),
            sha256=hashlib.sha256(self.content).digest(),
            salt=self.salt,
            leaf_index=self.leaf_index,
            version=version,
            details=self.details if version >= VERSION_CHECKPOINTS else None,
        )


@dataclass(frozen=True)
class Timestamp:
    """An RFC 3161 token over the bundle's checkpoint, and the authority asked."""

    tsa_url: str
    token: bytes


@dataclass(frozen=True)
class CustodyEntry:
    """A custody event's leaf, numbered from 1 in the bundle in the order given."""

    leaf_data: bytes
    leaf_index: int
    proof: tuple[bytes, ...]

    def __post_init__(self) -> None:
        _check_proof(self.proof)


@dataclass(frozen=True)
class Bundle:
    """Everything a bundle holds; every proof is against ``tree_head``."""

    case_id: str
    locale: str
    exported_at: dt.datetime
    exported_by: str
    reason: str
    tree_head: SignedTreeHead
    log_key: bytes
    """The log's raw 32-byte Ed25519 public key."""
    items: tuple[BundleItem, ...]
    custody: tuple[CustodyEntry, ...] = ()
    timeline: TimelineFiles | None = None
    checkpoint: str = ""
    """The tree head as a signed C2SP checkpoint: with it the bundle is of version 2."""
    timestamps: tuple[Timestamp, ...] = ()

    @property
    def version(self) -> int:
        return VERSION_CHECKPOINTS if self.checkpoint else VERSION

    @property
    def origin(self) -> str:
        return self.checkpoint.split("\n", 1)[0]

    def __post_init__(self) -> None:
        if self.locale not in LOCALES:
            raise ValueError(f"locale must be one of {LOCALES}")
        if self.exported_at.tzinfo is None:
            raise ValueError("exported_at must be timezone-aware")
        Ed25519PublicKey.from_public_bytes(self.log_key)
        indices = [item.leaf_index for item in self.items]
        indices += [entry.leaf_index for entry in self.custody]
        _check_unique([item.number for item in self.items], indices)
        if any(not 0 <= index < self.tree_head.head.size for index in indices):
            raise ValueError("every leaf index must lie inside the signed tree")

    def manifest(self, sealed: Sealed | None = None) -> Manifest:
        """The manifest; a version 2 bundle's names the hashes ``sealed`` gives."""
        version = self.version
        return Manifest(
            case_id=self.case_id,
            locale=self.locale,
            exported_at=self.exported_at,
            exported_by=self.exported_by,
            reason=self.reason,
            key_fingerprint=key_fingerprint(self.log_key),
            items=tuple(item.record(version) for item in self.items),
            custody=tuple(
                CustodyRecord(number, entry.leaf_index, version)
                for number, entry in enumerate(self.custody, start=1)
            ),
            has_timeline=self.timeline is not None,
            version=version,
            origin=self.origin,
            timestamps=tuple(t.tsa_url for t in self.timestamps),
            sealed=sealed,
        )


@dataclass(frozen=True)
class Sealed:
    """The hashes a version 2 manifest vouches for beyond the items: SHA256SUMS (which
    lists every other file but the manifest, its note and the extraction record) and the
    extraction record's two files."""

    sums: bytes
    records: tuple[tuple[str, bytes], ...]


# ---- what the files say ---------------------------------------------------------------


@dataclass(frozen=True)
class ItemRecord:
    """An item's entry in the manifest."""

    number: int
    kind: str
    name: str
    size: int
    sha256: bytes
    salt: bytes
    leaf_index: int
    version: int = VERSION
    details: ItemDetails | None = None

    def __post_init__(self) -> None:
        _check_item(self.number, self.kind, self.name, self.salt)
        if self.version >= VERSION_CHECKPOINTS and self.details is None:
            raise ValueError("a version 2 item states when it was received and from where")

    @property
    def file(self) -> str:
        return item_path(self.number, self.name)

    @property
    def leaf(self) -> str:
        return leaf_path(self.number)

    @property
    def proof(self) -> str:
        return proof_path(self.number)

    @property
    def tlog_proof(self) -> str:
        return tlog_proof_path(self.number)

    def files(self) -> tuple[str, ...]:
        own = (self.file, self.leaf, self.proof)
        return (*own, self.tlog_proof) if self.version >= VERSION_CHECKPOINTS else own

    def to_dict(self) -> dict[str, Any]:
        value = {
            "number": self.number,
            "kind": self.kind,
            "name": self.name,
            "file": self.file,
            "size": self.size,
            "sha256": self.sha256.hex(),
            "salt": self.salt.hex(),
            "leaf_index": self.leaf_index,
            "leaf": self.leaf,
            "proof": self.proof,
        }
        if self.version >= VERSION_CHECKPOINTS:
            value["tlog_proof"] = self.tlog_proof
            value.update(self.details.to_dict() if self.details else {})
        return value

    @classmethod
    def from_fields(cls, fields: _Fields, version: int) -> ItemRecord:
        try:
            record = cls(
                number=fields.whole("number"),
                kind=fields.text("kind"),
                name=fields.text("name"),
                size=fields.whole("size"),
                sha256=fields.hex_bytes("sha256", HASH_SIZE),
                salt=fields.hex_bytes("salt", SALT_SIZE),
                leaf_index=fields.whole("leaf_index"),
                version=version,
                details=ItemDetails.from_fields(fields) if version >= VERSION_CHECKPOINTS else None,
            )
        except BundleFormatError:
            raise
        except ValueError as exc:
            raise BundleFormatError(f"{MANIFEST}: item: {exc}") from exc
        fields.expect("file", record.file)
        fields.expect("leaf", record.leaf)
        fields.expect("proof", record.proof)
        if version >= VERSION_CHECKPOINTS:
            fields.expect("tlog_proof", record.tlog_proof)
        return record


@dataclass(frozen=True)
class CustodyRecord:
    """A custody event's entry in the manifest."""

    number: int
    leaf_index: int
    version: int = VERSION

    @property
    def leaf(self) -> str:
        return custody_leaf_path(self.number)

    @property
    def proof(self) -> str:
        return custody_proof_path(self.number)

    @property
    def tlog_proof(self) -> str:
        return custody_tlog_proof_path(self.number)

    def files(self) -> tuple[str, ...]:
        own = (self.leaf, self.proof)
        return (*own, self.tlog_proof) if self.version >= VERSION_CHECKPOINTS else own

    def to_dict(self) -> dict[str, Any]:
        value = {
            "number": self.number,
            "leaf_index": self.leaf_index,
            "leaf": self.leaf,
            "proof": self.proof,
        }
        if self.version >= VERSION_CHECKPOINTS:
            value["tlog_proof"] = self.tlog_proof
        return value

    @classmethod
    def from_fields(cls, fields: _Fields, version: int) -> CustodyRecord:
        record = cls(fields.whole("number"), fields.whole("leaf_index"), version)
        fields.expect("leaf", record.leaf)
        fields.expect("proof", record.proof)
        if version >= VERSION_CHECKPOINTS:
            fields.expect("tlog_proof", record.tlog_proof)
        return record


@dataclass(frozen=True)
class Manifest:
    """manifest.json: the case, the export, and every item and custody event."""

    case_id: str
    locale: str
    exported_at: dt.datetime
    exported_by: str
    reason: str
    key_fingerprint: bytes
    items: tuple[ItemRecord, ...]
    custody: tuple[CustodyRecord, ...]
    has_timeline: bool = False
    version: int = VERSION
    origin: str = ""
    """The log's name (version 2): its checkpoint's origin and its key's name."""
    timestamps: tuple[str, ...] = ()
    """The authorities whose tokens are timestamps/01.tsr, 02.tsr … (version 2)."""
    sealed: Sealed | None = None

    def __post_init__(self) -> None:
        indices = [item.leaf_index for item in self.items]
        indices += [record.leaf_index for record in self.custody]
        _check_unique([item.number for item in self.items], indices)
        if [record.number for record in self.custody] != list(range(1, len(self.custody) + 1)):
            raise ValueError("custody events must be numbered 1, 2, 3… in order")

    @property
    def timestamp_files(self) -> tuple[str, ...]:
        return tuple(timestamp_path(n) for n in range(1, len(self.timestamps) + 1))

    def files(self) -> frozenset[str]:
        """Every member the bundle must hold, and nothing else."""
        names = set(FIXED_FILES_V2 if self.version >= VERSION_CHECKPOINTS else FIXED_FILES)
        if self.has_timeline:
            names.update(TIMELINE_FILES)
        for item in self.items:
            names.update(item.files())
        for record in self.custody:
            names.update(record.files())
        names.update(self.timestamp_files)
        return frozenset(names)

    def summed_files(self) -> list[str]:
        """What SHA256SUMS lists: every file but itself, the manifest, its note and the
        extraction record (whose hashes the manifest gives)."""
        left_out = {SUMS, MANIFEST, MANIFEST_NOTE, *RECORD_FILES}
        return sorted(name for name in self.files() if name not in left_out)

    def to_json(self) -> bytes:
        timeline = {"text": TIMELINE_TEXT, "json": TIMELINE_JSON} if self.has_timeline else {}
        value: dict[str, Any] = {
            "format": FORMAT,
            "version": self.version,
            "case_id": self.case_id,
            "locale": self.locale,
            "exported_at": utc_text(self.exported_at),
            "exported_by": self.exported_by,
            "reason": self.reason,
            "commitment": {
                "leaf_key": LEAF_COMMITMENT,
                "scheme_key": LEAF_SCHEME,
                "schemes": {str(number): text for number, text in COMMITMENT_FORMULAS.items()},
            },
            "tree_head": {"signed_bytes": STH_BIN, "signature": STH_SIG, "json": STH_JSON},
            "log_public_key": {
                "file": PUBLIC_KEY,
                "algorithm": "Ed25519",
                "sha256": self.key_fingerprint.hex(),
            },
            "items": [item.to_dict() for item in self.items],
            "custody": [record.to_dict() for record in self.custody],
            **({"timeline": timeline} if timeline else {}),
        }
        if self.version >= VERSION_CHECKPOINTS:
            value.update(self._v2_fields())
        return _json_bytes(value)

    def _v2_fields(self) -> dict[str, Any]:
        sealed = self.sealed
        if sealed is None:
            raise ValueError("a version 2 manifest names the hashes of SHA256SUMS and the record")
        return {
            "log": {"origin": self.origin, "checkpoint": CHECKPOINT, "vkey": VKEY},
            "signed_by": MANIFEST_NOTE,
            "sha256sums": {"file": SUMS, "sha256": sealed.sums.hex()},
            "extraction_record": [
                {"file": name, "sha256": digest.hex()} for name, digest in sealed.records
            ],
            "timestamps": [
                {"file": timestamp_path(number), "authority_url": url}
                for number, url in enumerate(self.timestamps, start=1)
            ],
        }

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        fields = _Fields.parse(data, MANIFEST)
        fields.expect("format", FORMAT)
        version = fields.whole("version")
        if version not in (VERSION, VERSION_CHECKPOINTS):
            raise BundleFormatError(f"{MANIFEST}: version {version} is not one this Haven reads")
        fields.nested("log_public_key").expect("file", PUBLIC_KEY)
        has_timeline = fields.has("timeline")
        if has_timeline:
            fields.nested("timeline").expect("text", TIMELINE_TEXT)
            fields.nested("timeline").expect("json", TIMELINE_JSON)
        try:
            manifest = cls(
                case_id=fields.text("case_id"),
                locale=fields.text("locale"),
                exported_at=fields.time("exported_at"),
                exported_by=fields.text("exported_by"),
                reason=fields.text("reason"),
                key_fingerprint=fields.nested("log_public_key").hex_bytes("sha256", HASH_SIZE),
                items=tuple(ItemRecord.from_fields(f, version) for f in fields.objects("items")),
                custody=tuple(
                    CustodyRecord.from_fields(f, version) for f in fields.objects("custody")
                ),
                has_timeline=has_timeline,
                version=version,
            )
        except BundleFormatError:
            raise
        except ValueError as exc:
            raise BundleFormatError(f"{MANIFEST}: {exc}") from exc
        if version < VERSION_CHECKPOINTS:
            return manifest
        return manifest._with_v2_fields(fields)

    def _with_v2_fields(self, fields: _Fields) -> Manifest:
        log = fields.nested("log")
        log.expect("checkpoint", CHECKPOINT)
        log.expect("vkey", VKEY)
        fields.expect("signed_by", MANIFEST_NOTE)
        sums = fields.nested("sha256sums")
        sums.expect("file", SUMS)
        records = tuple(
            (entry.text("file"), entry.hex_bytes("sha256", HASH_SIZE))
            for entry in fields.objects("extraction_record")
        )
        if tuple(name for name, _ in records) != RECORD_FILES:
            raise BundleFormatError(f"{MANIFEST}: 'extraction_record' must list {RECORD_FILES}")
        stamps = fields.objects("timestamps")
        urls = tuple(entry.text("authority_url") for entry in stamps)
        for number, entry in enumerate(stamps, start=1):
            entry.expect("file", timestamp_path(number))
        return replace(
            self,
            origin=log.text("origin"),
            timestamps=urls,
            sealed=Sealed(sums.hex_bytes("sha256", HASH_SIZE), records),
        )


@dataclass(frozen=True)
class ProofFile:
    """proofs/NNN.json: an RFC 9162 inclusion proof of one leaf in the signed tree."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: tuple[bytes, ...]

    def to_json(self) -> bytes:
        return _json_bytes(
            {
                "leaf_index": self.leaf_index,
                "tree_size": self.tree_size,
                "leaf_hash": self.leaf_hash.hex(),
                "audit_path": [node.hex() for node in self.audit_path],
            }
        )

    @classmethod
    def from_json(cls, data: bytes, name: str) -> ProofFile:
        fields = _Fields.parse(data, name)
        return cls(
            leaf_index=fields.whole("leaf_index"),
            tree_size=fields.whole("tree_size"),
            leaf_hash=fields.hex_bytes("leaf_hash", HASH_SIZE),
            audit_path=fields.hex_list("audit_path", HASH_SIZE, _MAX_PROOF_LENGTH),
        )


# ---- checks and JSON plumbing -----------------------------------------------------------


def _check_item(number: int, kind: str, name: str, salt: bytes) -> None:
    if number < 1:
        raise ValueError("item numbers start at 1")
    if not _KIND.fullmatch(kind):
        raise ValueError(f"item kind {kind!r} is not a short lowercase word")
    if sanitise_filename(name) != name:
        raise ValueError(f"item name {name!r} is not sanitised")
    if len(salt) != SALT_SIZE:
        raise ValueError(f"a salt is {SALT_SIZE} bytes")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > _MAX_PROOF_LENGTH or any(len(node) != HASH_SIZE for node in proof):
        raise ValueError(f"a proof is at most {_MAX_PROOF_LENGTH} hashes of {HASH_SIZE} bytes")


def _check_unique(numbers: Sequence[int], leaf_indices: Sequence[int]) -> None:
    if len(set(numbers)) != len(numbers):
        raise ValueError("item numbers must be unique")
    if len(set(leaf_indices)) != len(leaf_indices):
        raise ValueError("a log leaf may appear only once in a bundle")


def _json_bytes(value: object) -> bytes:
    # Readable by a person (indented, Chinese as itself) and byte-stable for one input.
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


class _Fields:
    """Typed reads from a JSON object, with errors naming the file and the key."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise BundleFormatError(f"{where}: expected a JSON object")
        self._value: dict[str, Any] = value
        self._where = where

    @classmethod
    def parse(cls, data: bytes, where: str) -> _Fields:
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise BundleFormatError(f"{where}: not valid JSON ({exc})") from exc
        return cls(value, where)

    def _get(self, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
        value = self._value.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BundleFormatError(f"{self._where}: {key!r} must be {expected}")
        return value

    def text(self, key: str) -> str:
        value: str = self._get(key, str, "a string")
        return value

    def whole(self, key: str) -> int:
        value: int = self._get(key, int, "a whole number")
        if value < 0:
            raise BundleFormatError(f"{self._where}: {key!r} must not be negative")
        return value

    def hex_bytes(self, key: str, size: int) -> bytes:
        return self._decode_hex(self.text(key), key, size)

    def hex_list(self, key: str, size: int, max_length: int) -> tuple[bytes, ...]:
        values: list[Any] = self._get(key, list, "a list")
        if len(values) > max_length or not all(isinstance(v, str) for v in values):
            raise BundleFormatError(
                f"{self._where}: {key!r} must be at most {max_length} hex strings"
            )
        return tuple(self._decode_hex(value, key, size) for value in values)

    def time(self, key: str) -> dt.datetime:
        """An ISO 8601 time with a zone, in UTC (checked here: near year 1 it can overflow)."""
        try:
            moment = dt.datetime.fromisoformat(self.text(key))
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            return moment.astimezone(dt.UTC)
        except (ValueError, OverflowError) as exc:
            raise BundleFormatError(f"{self._where}: {key!r} is not a UTC time ({exc})") from exc

    def nested(self, key: str) -> _Fields:
        return _Fields(self._get(key, dict, "an object"), f"{self._where}: {key}")

    def objects(self, key: str) -> list[_Fields]:
        values: list[Any] = self._get(key, list, "a list")
        return [_Fields(value, f"{self._where}: {key}") for value in values]

    def has(self, key: str) -> bool:
        return key in self._value

    def value(self, key: str) -> object:
        return self._value.get(key)

    def expect(self, key: str, wanted: object) -> None:
        if self._value.get(key) != wanted:
            raise BundleFormatError(f"{self._where}: {key!r} must be {wanted!r}")

    def _decode_hex(self, text: str, key: str, size: int) -> bytes:
        if not re.fullmatch(f"[0-9a-f]{{{2 * size}}}", text):
            raise BundleFormatError(
                f"{self._where}: {key!r} must be {2 * size} lowercase hex digits"
            )
        return bytes.fromhex(text)
