"""Writing an evidence bundle: the zip described in :mod:`bot.evidence.bundle`.

The file appears whole or not at all (written beside its destination, flushed, renamed),
and it is created readable by its owner only: it holds a victim's private evidence.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path

from bot.evidence.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    README,
    STH_BIN,
    STH_JSON,
    STH_SIG,
    TIMELINE_JSON,
    TIMELINE_TEXT,
    Bundle,
    ProofFile,
    custody_leaf_path,
    custody_proof_path,
    public_key_pem,
)
from bot.evidence.bundle_readme import render_readme
from storage.merkle import leaf_hash

_MEMBER_MODE = (stat.S_IFREG | 0o600) << 16


def write_bundle(bundle: Bundle, path: Path) -> None:
    """Write ``bundle`` as a zip at ``path``, replacing any file there."""
    members = _members(bundle)
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


def _members(bundle: Bundle) -> list[tuple[str, bytes, int]]:
    """Every member as (name, bytes, compression), in the order they are written.

    Items are stored, not deflated: photos, voice notes and PDFs are compressed already,
    and it keeps every large member near 1:1, far from the verifier's bomb threshold.
    """
    manifest = bundle.manifest()
    sth = bundle.tree_head
    deflated = zipfile.ZIP_DEFLATED
    members = [
        (README, render_readme(bundle, manifest).encode(), deflated),
        (MANIFEST, manifest.to_json(), deflated),
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
