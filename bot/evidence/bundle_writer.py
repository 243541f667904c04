"""Writing an evidence bundle: the zip described in :mod:`bot.evidence.bundle`.

The file appears whole or not at all (written beside its destination, flushed, renamed),
and it is created readable by its owner only: it holds a victim's private evidence.

A version 2 bundle (one with a checkpoint) is sealed in three layers, each covering the
one before: SHA256SUMS lists the hash of every file but the manifest, its note and the
extraction record; the extraction record quotes SHA256SUMS's own hash as the bundle's
hash; the manifest gives the hashes of SHA256SUMS and of the record; manifest.note is
the log key's signed note over the manifest's hash. So the case, the reason, who
exported it, the README and the timeline are all under the log key's signature.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from bot.evidence.bundle import (
    CHECKPOINT,
    MANIFEST,
    MANIFEST_NOTE,
    PUBLIC_KEY,
    README,
    RECORD_FILES,
    STH_BIN,
    STH_JSON,
    STH_SIG,
    SUMS,
    TIMELINE_JSON,
    TIMELINE_TEXT,
    VKEY,
    Bundle,
    Manifest,
    ProofFile,
    Sealed,
    custody_leaf_path,
    custody_proof_path,
    custody_tlog_proof_path,
    manifest_note_text,
    public_key_pem,
)
from bot.evidence.bundle_readme import render_readme
from storage.merkle import leaf_hash
from storage.signed_note import NoteVerifier
from storage.tlog import TlogProof

Member = tuple[str, bytes, int]
NoteSigner = Callable[[str], str]
"""Signs a note text with the log key under the log's name (storage/signed_note.py)."""
RecordMaker = Callable[[Bundle, bytes], tuple[bytes, bytes]]
"""The extraction record (CSV, PDF) of a bundle, given SHA256SUMS's hash."""

_MEMBER_MODE = (stat.S_IFREG | 0o600) << 16


def write_bundle(
    bundle: Bundle,
    path: Path,
    *,
    signer: NoteSigner | None = None,
    record: RecordMaker | None = None,
) -> None:
    """Write ``bundle`` as a zip at ``path``, replacing any file there (never through a
    symbolic link: the link itself is replaced). A bundle with a checkpoint needs the
    ``signer`` of its manifest and the maker of its extraction record."""
    if not bundle.checkpoint:
        members = _members(bundle, bundle.manifest())
    elif signer is None or record is None:
        raise ValueError("a bundle with a checkpoint needs a manifest signer and a record")
    else:
        members = _sealed_members(bundle, signer, record)
    date_time = bundle.exported_at.utctimetuple()[:6]
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w") as archive:
                for name, data, compression in members:
                    info = zipfile.ZipInfo(name, date_time)
                    info.compress_type = compression
                    info.external_attr = _MEMBER_MODE
                    archive.writestr(info, data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _sealed_members(bundle: Bundle, signer: NoteSigner, record: RecordMaker) -> list[Member]:
    draft = bundle.manifest()
    members = _members(bundle, draft)
    members += _checkpoint_members(bundle, draft)
    summed = set(draft.summed_files())
    sums = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n"
        for name, data, _ in sorted(members)
        if name in summed
    ).encode()
    sums_hash = hashlib.sha256(sums).digest()
    csv, pdf = record(bundle, sums_hash)
    records = tuple(zip(RECORD_FILES, (csv, pdf), strict=True))
    sealed = Sealed(sums_hash, tuple((n, hashlib.sha256(d).digest()) for n, d in records))
    manifest = bundle.manifest(sealed).to_json()
    note = signer(manifest_note_text(bundle.origin, manifest))
    deflated = zipfile.ZIP_DEFLATED
    members += [
        (MANIFEST, manifest, deflated),
        (MANIFEST_NOTE, note.encode(), deflated),
        (SUMS, sums, deflated),
        *((name, data, deflated) for name, data in records),
    ]
    return members


def _checkpoint_members(bundle: Bundle, manifest: Manifest) -> list[Member]:
    """The checkpoint, the key as a vkey, a tlog proof per leaf, the timestamps."""
    deflated = zipfile.ZIP_DEFLATED
    verifier = NoteVerifier.for_key(bundle.origin, bundle.log_key)
    members: list[Member] = [
        (CHECKPOINT, bundle.checkpoint.encode(), deflated),
        (VKEY, (verifier.vkey() + "\n").encode(), deflated),
    ]
    for item, record in zip(bundle.items, manifest.items, strict=True):
        proof = TlogProof(item.leaf_index, item.proof, bundle.checkpoint)
        members.append((record.tlog_proof, proof.to_text().encode(), deflated))
    for number, entry in enumerate(bundle.custody, start=1):
        proof = TlogProof(entry.leaf_index, entry.proof, bundle.checkpoint)
        members.append((custody_tlog_proof_path(number), proof.to_text().encode(), deflated))
    for name, stamp in zip(manifest.timestamp_files, bundle.timestamps, strict=True):
        members.append((name, stamp.token, zipfile.ZIP_STORED))
    return members


def _members(bundle: Bundle, manifest: Manifest) -> list[Member]:
    """Every member as (name, bytes, compression), in the order they are written.

    Items are stored, not deflated: photos, voice notes and PDFs are compressed already,
    and it keeps every large member near 1:1, far from the verifier's bomb threshold.
    """
    sth = bundle.tree_head
    deflated = zipfile.ZIP_DEFLATED
    members = [
        (README, render_readme(bundle, manifest).encode(), deflated),
        *([] if bundle.checkpoint else [(MANIFEST, manifest.to_json(), deflated)]),
        (STH_BIN, sth.head.to_bytes(), deflated),
        (STH_JSON, sth.to_json(), deflated),
        (STH_SIG, sth.signature, deflated),
        (PUBLIC_KEY, public_key_pem(bundle.log_key), deflated),
    ]
    if bundle.timeline is not None:
        members += [
            (TIMELINE_TEXT, bundle.timeline.text.encode(), deflated),
            (TIMELINE_JSON, bundle.timeline.json, deflated),
        ]
    size = sth.head.size
    for item, record in zip(bundle.items, manifest.items, strict=True):
        proof = ProofFile(item.leaf_index, size, leaf_hash(item.leaf_data), item.proof)
        members += [
            (record.file, item.content, zipfile.ZIP_STORED),
            (record.leaf, item.leaf_data, deflated),
            (record.proof, proof.to_json(), deflated),
        ]
    for number, entry in enumerate(bundle.custody, start=1):
        proof = ProofFile(entry.leaf_index, size, leaf_hash(entry.leaf_data), entry.proof)
        members += [
            (custody_leaf_path(number), entry.leaf_data, deflated),
            (custody_proof_path(number), proof.to_json(), deflated),
        ]
    return members
