"""``haven verify``: check an evidence bundle offline, with nothing but the bundle and a key.

Whoever holds a bundle (a lawyer, the police, a court's expert) learns, per item, whether
the file's SHA-256 is the one listed (and the one on the victim's receipt), whether the
file's salted commitment is the one in its log entry (SHA-256(salt || file) for entries
of scheme 1, SHA-256(label || salt || SHA-256(file)) for scheme 2: the entry's "v"
says which), whether the entry's inclusion
proof leads to the signed tree head; and whether that head's signature verifies with the
key in the bundle and with a key obtained independently (``--key``). The commitment is
what ties the file to the signed log: the plain hash is kept out of the log on purpose.

A version 2 bundle also has its C2SP checkpoint checked with the log's key, each item's
tlog proof, the log key's signed note over the manifest (which covers the case, the
reason, who exported it and, through SHA256SUMS, every other file), the extraction
record, and its RFC 3161 timestamps: their time and authority always, their signature
with ``--tsa-ca``. The timeline is checked against the log entries in every version.

The archive is never extracted: :mod:`bot.evidence.safezip` vets it, then members are read into
memory under caps or streamed through the hashes. A bundle that cannot be trusted to be
read (not a regular file, not a zip, hostile paths, a decompression bomb, files missing
from or added to the manifest) is *refused* with one line saying why; a readable bundle
gets a report: a summary in plain words, and every item's line with ``--verbose``.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from bot.evidence.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    STH_BIN,
    STH_JSON,
    STH_SIG,
    VERSION_CHECKPOINTS,
    BundleFormatError,
    CustodyRecord,
    ItemRecord,
    LeafClaims,
    Manifest,
    ProofFile,
    SignedTreeHead,
    head_time,
    key_fingerprint,
    utc_text,
)
from bot.evidence.filenames import shown
from bot.evidence.safezip import DEFAULT_LIMITS, ArchiveError, MiB, SafeZip, ZipLimits
from bot.evidence.verify_sealed import (
    SealedChecks,
    Sealing,
    StampResult,
    TrustedKey,
    leaf_fields,
)
from bot.evidence.verify_timeline import check_timeline
from storage.leaves import COMMITMENT_CONTENT, COMMITMENT_CONTENT_HASH, hash_commitment
from storage.merkle import TreeHead, leaf_hash, verify_inclusion, verify_tree_head
from storage.signed_note import NoteError, NoteVerifier, parse_vkey
from storage.work_progress import Progress, no_progress

EXIT_VERIFIED = 0
EXIT_NOT_VERIFIED = 1
EXIT_USAGE = 2

_MAX_MANIFEST_BYTES = 32 * MiB
_MAX_SMALL_FILE_BYTES = MiB
_LISTED_NAMES = 5
_ROW = "{:<13}{:<11}{:<8}{:<12}{:<11}{}"
VERIFY_STAGE = "checking each item against the signed log (items)"


class Problem(StrEnum):
    """What a finding is about; the first five always mean the bundle was refused unread."""

    UNREADABLE = "unreadable"  # not a zip, truncated, a CRC error
    UNSAFE = "unsafe"  # a member name or type that could escape or hide something
    TOO_LARGE = "too_large"  # over a size cap: a decompression bomb or worse
    MISSING_FILE = "missing_file"  # the manifest names a file the archive lacks
    EXTRA_FILE = "extra_file"  # the archive holds a file the manifest does not name
    FORMAT = "format"  # a bundle file is malformed (refused when it is the manifest)
    INCONSISTENT = "inconsistent"  # two files of the bundle disagree
    CONTENT_HASH = "content_hash"  # an item's SHA-256 or size is not the one listed or logged
    COMMITMENT = "commitment"  # the item's salted commitment is not the logged one
    INCLUSION = "inclusion"  # a proof does not lead from the leaf to the signed root
    SIGNATURE = "signature"  # the tree head's signature fails with the bundle's key
    TRUSTED_KEY = "trusted_key"  # ... or with the key given by --key
    TIMESTAMP = "timestamp"  # an RFC 3161 token is damaged, missing or does not check


@dataclass(frozen=True)
class Finding:
    problem: Problem
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail}"


@dataclass(frozen=True)
class ItemResult:
    number: int
    kind: str
    file: str
    hash_ok: bool
    commitment_ok: bool
    inclusion_ok: bool


@dataclass(frozen=True)
class CustodyResult:
    number: int
    inclusion_ok: bool


@dataclass(frozen=True)
class Report:
    """What was found; ``manifest`` is None when the bundle was refused unread."""

    path: Path
    findings: tuple[Finding, ...]
    manifest: Manifest | None = None
    tree_head: TreeHead | None = None
    items: tuple[ItemResult, ...] = ()
    custody: tuple[CustodyResult, ...] = ()
    signature_ok: bool = False
    trusted_key_ok: bool | None = None
    """None when no independently obtained key was given."""
    sealing: Sealing | None = None
    """What the version 2 checks found; None for an older bundle."""

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def refused(self) -> bool:
        return self.manifest is None

    def problems(self) -> set[Problem]:
        return {finding.problem for finding in self.findings}


class KeyFileError(Exception):
    """The ``--key`` or ``--tsa-ca`` file is not what it must be."""


class _Refused(Exception):
    def __init__(self, problem: Problem, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem


def verify_bundle(
    path: Path,
    trusted_key: TrustedKey | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
    tsa_roots: list[x509.Certificate] | None = None,
    progress: Progress = no_progress,
) -> Report:
    """Check the bundle at ``path``; never raises for anything the bundle contains.
    ``tsa_roots``: the CA certificates to check its timestamps with (``--tsa-ca``)."""
    try:
        with SafeZip(path, limits) as archive:
            return _Verification(path, archive, trusted_key, tsa_roots, progress).run()
    except ArchiveError as exc:
        return _refusal(path, Problem(exc.problem.value), str(exc))
    except BundleFormatError as exc:
        return _refusal(path, Problem.FORMAT, str(exc))
    except _Refused as exc:
        return _refusal(path, exc.problem, str(exc))


def load_key(path: Path) -> TrustedKey:
    """The log key as the organisation published it: a PEM public key, or a signed-note
    verifier key (``log-public-key.vkey``, which also names the log)."""
    data = _small_file(path)
    if not data.lstrip().startswith(b"-----BEGIN"):
        try:
            return parse_vkey(data.decode("utf-8"))
        except (NoteError, UnicodeDecodeError) as exc:
            raise KeyFileError(
                f"{path}: not a public key in PEM form nor a verifier key ({_first_line(exc)})"
            ) from exc
    try:
        key = load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path}: not a public key in PEM form ({_first_line(exc)})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 public key")
    return key


def load_tsa_roots(path: Path) -> list[x509.Certificate]:
    """The CA certificates (PEM) that vouch for the time-stamping authorities."""
    try:
        roots = x509.load_pem_x509_certificates(_small_file(path))
    except ValueError as exc:
        raise KeyFileError(f"{path}: not PEM certificates ({_first_line(exc)})") from exc
    return roots


def run(
    bundle: Path,
    key_file: Path | None,
    tsa_ca: Path | None = None,
    verbose: bool = False,
    progress: Progress = no_progress,
) -> int:
    """The ``haven verify`` command: print the report, return the exit status."""
    try:
        trusted = load_key(key_file) if key_file is not None else None
        roots = load_tsa_roots(tsa_ca) if tsa_ca is not None else None
    except KeyFileError as exc:
        print(f"haven verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = verify_bundle(bundle, trusted, tsa_roots=roots, progress=progress)
    if report.refused:
        print(f"haven verify: {bundle}: {report.findings[0].detail}", file=sys.stderr)
        return EXIT_NOT_VERIFIED
    print(format_report(report, verbose=verbose))
    return EXIT_VERIFIED if report.ok else EXIT_NOT_VERIFIED


def _small_file(path: Path) -> bytes:
    """A key or certificate file: a regular file, read up to its cap."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise KeyFileError(f"{path}: not a regular file")
            return handle.read(_MAX_SMALL_FILE_BYTES)
    except OSError as exc:
        raise KeyFileError(f"{path}: {_first_line(exc)}") from exc


def _refusal(path: Path, problem: Problem, detail: str) -> Report:
    return Report(path, (Finding(problem, "bundle", detail),))


class _Verification:
    """One run over one opened archive, collecting findings as it goes."""

    def __init__(
        self,
        path: Path,
        archive: SafeZip,
        trusted_key: TrustedKey | None,
        tsa_roots: list[x509.Certificate] | None,
        progress: Progress = no_progress,
    ) -> None:
        self._path = path
        self._progress = progress
        self._archive = archive
        self._trusted_key = trusted_key
        self._tsa_roots = tsa_roots
        self._findings: list[Finding] = []
        self._leaves: dict[int, dict[str, object]] = {}
        self._sealed: SealedChecks | None = None
        self._sealing: Sealing | None = None

    def run(self) -> Report:
        if MANIFEST not in self._archive.names:
            raise _Refused(Problem.MISSING_FILE, f"no {MANIFEST}: not a Haven evidence bundle")
        manifest_bytes = self._archive.read(MANIFEST, _MAX_MANIFEST_BYTES)
        manifest = Manifest.from_json(manifest_bytes)
        self._check_file_set(manifest)
        head, signature = self._tree_head()
        bundle_key = self._bundle_key(manifest)
        signature_ok = verify_tree_head(head, signature, bundle_key)
        if not signature_ok:
            self._find(
                Problem.SIGNATURE, "tree head", f"{STH_SIG} does not verify with {PUBLIC_KEY}"
            )
        trusted_ok = None
        trusted_pem = self._trusted_public()
        if trusted_pem is not None:
            trusted_ok = verify_tree_head(head, signature, trusted_pem)
            if not trusted_ok:
                self._find(
                    Problem.TRUSTED_KEY,
                    "tree head",
                    f"{STH_SIG} does not verify with the --key key",
                )
        if manifest.version >= VERSION_CHECKPOINTS:
            raw = bundle_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
            trusted_ok = self._seal_checks(manifest, manifest_bytes, raw, head, trusted_ok)
        items = tuple(self._items(manifest.items, head))
        custody = tuple(self._custody(record, head) for record in manifest.custody)
        if manifest.has_timeline:
            by_number = {record.number: record for record in manifest.items}
            check_timeline(self._archive, by_number, self._leaves, self._find_named)
        return Report(
            path=self._path,
            findings=tuple(self._findings),
            manifest=manifest,
            tree_head=head,
            items=items,
            custody=custody,
            signature_ok=signature_ok and (self._sealing is None or self._sealing.manifest_signed),
            trusted_key_ok=trusted_ok,
            sealing=self._sealing,
        )

    def _items(self, records: tuple[ItemRecord, ...], head: TreeHead) -> list[ItemResult]:
        results = []
        for record in records:
            results.append(self._item(record, head))
            self._progress(VERIFY_STAGE, len(results), len(records))
        return results

    def _trusted_public(self) -> Ed25519PublicKey | None:
        key = self._trusted_key
        if isinstance(key, NoteVerifier):
            return Ed25519PublicKey.from_public_bytes(key.public_key)
        return key

    def _seal_checks(
        self,
        manifest: Manifest,
        manifest_bytes: bytes,
        raw_key: bytes,
        head: TreeHead,
        trusted_ok: bool | None,
    ) -> bool | None:
        try:
            self._sealed = SealedChecks(
                self._archive,
                manifest,
                manifest_bytes,
                raw_key,
                self._trusted_key,
                self._tsa_roots,
                self._find_named,
            )
        except NoteError as exc:
            raise _Refused(Problem.FORMAT, f"{MANIFEST}: the log's origin: {exc}") from exc
        self._sealing = self._sealed.run(head)
        if self._sealing.trusted_ok is None:
            return trusted_ok
        return bool(trusted_ok) and self._sealing.trusted_ok

    def _find(self, problem: Problem, subject: str, detail: str) -> None:
        self._findings.append(Finding(problem, subject, detail))

    def _find_named(self, problem: str, subject: str, detail: str) -> None:
        self._find(Problem(problem), subject, detail)

    def _read(self, name: str) -> bytes:
        return self._archive.read(name, _MAX_SMALL_FILE_BYTES)

    def _check_file_set(self, manifest: Manifest) -> None:
        expected, present = manifest.files(), self._archive.names
        if missing := sorted(expected - present):
            raise _Refused(Problem.MISSING_FILE, f"missing from the bundle: {_listed(missing)}")
        if extra := sorted(present - expected):
            raise _Refused(Problem.EXTRA_FILE, f"not in the manifest: {_listed(extra)}")

    def _tree_head(self) -> tuple[TreeHead, bytes]:
        """The head as signed (sth.bin) and its signature; sth.json must agree with both."""
        try:
            head = TreeHead.from_bytes(self._read(STH_BIN))
            head_time(head)
        except ValueError as exc:
            raise _Refused(Problem.FORMAT, f"{STH_BIN}: {exc}") from exc
        signature = self._read(STH_SIG)
        readable = SignedTreeHead.from_json(self._read(STH_JSON))
        if readable.head != head or readable.signature != signature:
            self._find(
                Problem.INCONSISTENT, "tree head", f"{STH_JSON} differs from {STH_BIN}/{STH_SIG}"
            )
        return head, signature

    def _bundle_key(self, manifest: Manifest) -> Ed25519PublicKey:
        try:
            key = load_pem_public_key(self._read(PUBLIC_KEY))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise _Refused(Problem.FORMAT, f"{PUBLIC_KEY}: {_first_line(exc)}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise _Refused(Problem.FORMAT, f"{PUBLIC_KEY} is not an Ed25519 public key")
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        if key_fingerprint(raw) != manifest.key_fingerprint:
            self._find(
                Problem.INCONSISTENT, "log key", f"{MANIFEST} gives another key's fingerprint"
            )
        return key

    def _item(self, record: ItemRecord, head: TreeHead) -> ItemResult:
        subject = f"item {record.number:03d}"
        leaf = self._read(record.leaf)
        try:
            claims: LeafClaims | None = LeafClaims.from_leaf(leaf, record.leaf)
        except BundleFormatError as exc:
            claims = None
            self._find(Problem.FORMAT, subject, str(exc))
        self._leaves[record.number] = fields = leaf_fields(leaf)
        digest, salted, size = self._hash_content(record, claims)
        hash_ok = (digest, size) == (record.sha256, record.size)
        if not hash_ok:
            self._find(Problem.CONTENT_HASH, subject, f"{record.file} is not the file listed")
        inclusion_ok = self._inclusion(subject, leaf, record.leaf_index, record.proof, head)
        if self._sealed is not None and self._sealing is not None:
            self._sealed.details(subject, record, fields)
            if self._sealing.sums.get(record.file) not in (None, digest):
                self._find(Problem.CONTENT_HASH, subject, f"{record.file} differs from SHA256SUMS")
            inclusion_ok &= self._sealed.proof(
                subject, leaf_hash(leaf), record.leaf_index, record.tlog_proof, self._sealing
            )
        if claims is not None and (differs := claims.mismatch(size, digest)):
            hash_ok = False
            self._find(Problem.CONTENT_HASH, subject, differs)
        commitment_ok = claims is not None and salted == claims.commitment
        if claims is not None and not commitment_ok:
            self._find(
                Problem.COMMITMENT, subject, f"{claims.formula} is not the logged commitment"
            )
        return ItemResult(
            number=record.number,
            kind=record.kind,
            file=record.file,
            hash_ok=hash_ok,
            commitment_ok=commitment_ok,
            inclusion_ok=inclusion_ok,
        )

    def _custody(self, record: CustodyRecord, head: TreeHead) -> CustodyResult:
        subject = f"custody {record.number:03d}"
        leaf = self._read(record.leaf)
        ok = self._inclusion(subject, leaf, record.leaf_index, record.proof, head)
        if self._sealed is not None and self._sealing is not None:
            ok &= self._sealed.proof(
                subject, leaf_hash(leaf), record.leaf_index, record.tlog_proof, self._sealing
            )
        return CustodyResult(record.number, ok)

    def _hash_content(
        self, record: ItemRecord, claims: LeafClaims | None
    ) -> tuple[bytes, bytes, int]:
        """SHA-256(file), the file's commitment under its leaf's scheme and the size, in
        one streamed pass (a second hash over the file only for scheme 1's entries)."""
        plain, salted, size = hashlib.sha256(), hashlib.sha256(record.salt), 0
        scheme = claims.scheme if claims is not None else COMMITMENT_CONTENT_HASH
        for chunk in self._archive.chunks(record.file):
            plain.update(chunk)
            if scheme == COMMITMENT_CONTENT:
                salted.update(chunk)
            size += len(chunk)
        digest = plain.digest()
        if scheme == COMMITMENT_CONTENT:
            return digest, salted.digest(), size
        return digest, bytes.fromhex(hash_commitment(record.salt, digest)), size

    def _inclusion(
        self, subject: str, leaf: bytes, leaf_index: int, proof_name: str, head: TreeHead
    ) -> bool:
        try:
            proof = ProofFile.from_json(self._read(proof_name), proof_name)
        except BundleFormatError as exc:
            self._find(Problem.FORMAT, subject, str(exc))
            return False
        if (proof.leaf_index, proof.tree_size) != (leaf_index, head.size):
            self._find(
                Problem.INCONSISTENT,
                subject,
                f"{proof_name} is for leaf {proof.leaf_index} of {proof.tree_size}, "
                f"not leaf {leaf_index} of the signed {head.size}",
            )
            return False
        computed = leaf_hash(leaf)
        if proof.leaf_hash != computed:
            self._find(Problem.INCLUSION, subject, f"{proof_name} proves another log entry")
            return False
        if not verify_inclusion(computed, leaf_index, head.size, proof.audit_path, head.root):
            self._find(Problem.INCLUSION, subject, "the proof does not lead to the signed root")
            return False
        return True


def format_report(report: Report, *, verbose: bool = False) -> str:
    """The report as ``haven verify`` prints it: what the bundle is, what was checked and
    how it came out, in plain words; every item's line with ``verbose`` (else only the
    items with a problem)."""
    manifest, head = report.manifest, report.tree_head
    if manifest is None or head is None:
        return f"REFUSED: {report.findings[0].detail}"
    lines = [
        f"Bundle     {shown(str(report.path))}",
        f"Case       {shown(manifest.case_id)} ({shown(manifest.locale)}), exported "
        f"{utc_text(manifest.exported_at)} by {shown(manifest.exported_by)}",
        f"Reason     {shown(manifest.reason)}",
        f"Tree head  {head.size} entries, {utc_text(head_time(head))}, root {head.root.hex()}",
        f"Log key    SHA-256 fingerprint {manifest.key_fingerprint.hex()}",
        "",
        "What was checked:",
        *_checked(report),
        "",
    ]
    failed = {finding.subject for finding in report.findings}
    rows = [
        _ROW.format(f"item {item.number:03d}", item.kind, *_marks(item), item.file)
        for item in report.items
        if verbose or f"item {item.number:03d}" in failed
    ]
    rows += [
        _ROW.format(f"custody {e.number:03d}", "", "", "", _mark(e.inclusion_ok), "").rstrip()
        for e in report.custody
        if verbose or f"custody {e.number:03d}" in failed
    ]
    if rows:
        lines += [_ROW.format("", "kind", "hash", "commitment", "inclusion", "file"), *rows, ""]
    lines += [f"problem: {shown(str(finding))}" for finding in report.findings]
    lines.append(_verdict(report))
    return "\n".join(lines)


def _checked(report: Report) -> list[str]:
    """One line per kind of check, with how many passed."""
    sealing = report.sealing
    items, custody = report.items, report.custody
    signed = "the log key in the bundle"
    lines = [
        f"- signature of the tree head (sth.sig) with {signed}: {_mark(report.signature_ok)}",
        f"- the same with a key obtained apart from the bundle (--key): "
        f"{_trusted_mark(report.trusted_key_ok)}",
    ]
    if sealing is not None:
        checkpoint = sealing.checkpoint
        named = f"{shown(checkpoint.origin)}, {checkpoint.size} entries" if checkpoint else "—"
        lines += [
            f"- C2SP checkpoint ({named}) signed by {signed}: {_mark(checkpoint is not None)}",
            f"- manifest (case, reason, who exported, every file's SHA-256) signed by the "
            f"log key (manifest.note): {_mark(sealing.manifest_signed)}",
        ]
    hashed = sum(item.hash_ok for item in items)
    committed = sum(item.commitment_ok for item in items)
    proven = sum(item.inclusion_ok for item in items)
    proofs = (
        "inclusion proofs (RFC 9162 and c2sp.org/tlog-proof)" if sealing else "inclusion proofs"
    )
    lines += [
        f"- items: SHA-256 as listed {hashed}/{len(items)}, salted commitment as logged "
        f"{committed}/{len(items)}, {proofs} to the signed root {proven}/{len(items)}",
        f"- custody events proven in the log: {sum(e.inclusion_ok for e in custody)}"
        f"/{len(custody)}",
    ]
    if sealing is not None:
        lines += [_stamp_line(stamp) for stamp in sealing.stamps] or [
            "- trusted timestamp (RFC 3161): none in this bundle"
        ]
    return lines


def _stamp_line(stamp: StampResult) -> str:
    facts = stamp.facts
    if facts is None:
        return f"- trusted timestamp {stamp.file}: damaged"
    said = f"{utc_text(facts.time)} by {shown(facts.authority)}"
    if stamp.ok is None:
        return f"- trusted timestamp {stamp.file}: {said}; not checked (no --tsa-ca given)"
    return f"- trusted timestamp {stamp.file}: {said}; signature and certificate: {_mark(stamp.ok)}"


def _marks(item: ItemResult) -> tuple[str, str, str]:
    return _mark(item.hash_ok), _mark(item.commitment_ok), _mark(item.inclusion_ok)


def _verdict(report: Report) -> str:
    if not report.ok:
        return f"NOT VERIFIED: {len(report.findings)} problem(s)."
    verdict = f"VERIFIED: {len(report.items)} item(s) and {len(report.custody)} custody event(s)."
    if report.trusted_key_ok is None:
        verdict += (
            " Only the key inside the bundle was used: compare its fingerprint with the"
            " organisation's, or run again with --key."
        )
    return verdict


def _mark(ok: bool) -> str:
    return "ok" if ok else "FAILED"


def _trusted_mark(ok: bool | None) -> str:
    return "not checked (no --key given)" if ok is None else _mark(ok)


def _listed(names: list[str]) -> str:
    shown_names = ", ".join(shown(name) for name in names[:_LISTED_NAMES])
    more = len(names) - _LISTED_NAMES
    return shown_names + (f" and {more} more" if more > 0 else "")


def _first_line(exc: BaseException) -> str:
    return shown(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
