"""Backups of a SQLite deployment: one tar file, written while Haven runs, restorable.

A backup holds:

- ``haven.db``: a consistent snapshot of the database, taken with SQLite's online backup
  API (a reader's snapshot in WAL mode: Haven keeps writing meanwhile);
- ``blobs/ab/cd/abcd…``: every sealed file an item of that snapshot names, each checked
  against its address (its SHA-256) as it is copied;
- ``manifest.json``: the format, the time, the log's public key, and each file's name,
  size and SHA-256;
- ``manifest.sig``: the log key's Ed25519 signature over ``manifest.json``, hex.

Never the key files: the master key and the log signing key are kept apart from the
data, so that a stolen backup is ciphertext. Restoring checks the signature first, then
every file against the manifest as it is written, and accepts no name, type or size the
manifest does not give; whatever it refuses, it leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from storage.blobs import BlobError, BlobStore, blob_address
from storage.data_dir import BLOB_DIR, private_file

FORMAT = "haven-backup/1"
DATABASE = "haven.db"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
_MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_MAX_SIGNATURE_BYTES = 1024
_BLOB_NAME = re.compile(r"blobs/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})")
_CHUNK = 1024 * 1024

Progress = Callable[[int, int], None]
"""Told (done, total) as files are copied."""


class BackupError(Exception):
    """A backup cannot be made or restored; one line saying why."""


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Made:
    path: Path
    files: int
    size: int


@dataclass(frozen=True)
class Restored:
    files: int
    size: int
    public_key: bytes
    created_at: str


def make_backup(
    database: Path,
    data_dir: Path,
    out: Path,
    *,
    public_key: bytes,
    sign: Callable[[bytes], bytes],
    now: datetime,
    progress: Progress,
) -> Made:
    """Write a backup of ``database`` and the blobs under ``data_dir`` to ``out``
    (through a temporary file beside it, renamed into place: never through a link)."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database} to back up")
    blobs = BlobStore(data_dir / BLOB_DIR)
    with tempfile.TemporaryDirectory(prefix=".haven-backup-", dir=out.parent) as scratch:
        snapshot = Path(scratch) / DATABASE
        _snapshot(database, snapshot)
        addresses = _named_blobs(snapshot)
        fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    entries = _add_files(tar, snapshot, blobs, addresses, progress)
                    manifest = _manifest(entries, public_key, now)
                    _add_bytes(tar, MANIFEST, manifest)
                    _add_bytes(tar, SIGNATURE, sign(manifest).hex().encode())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, out)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    return Made(out, len(entries), sum(entry.size for entry in entries))


def read_manifest(archive: Path) -> tuple[dict[str, Any], bytes, bytes]:
    """The manifest (parsed), its bytes and its signature, without checking either."""
    with _open_archive(archive) as tar:
        raw = _member_bytes(tar, MANIFEST, _MAX_MANIFEST_BYTES)
        signature_hex = _member_bytes(tar, SIGNATURE, _MAX_SIGNATURE_BYTES)
    try:
        manifest = json.loads(raw)
        signature = bytes.fromhex(signature_hex.decode("ascii").strip())
    except (ValueError, RecursionError):
        raise BackupError("the backup's manifest or signature is unreadable") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"not a Haven backup (expected format {FORMAT})")
    return manifest, raw, signature


def restore_backup(
    archive: Path,
    manifest: dict[str, Any],
    database: Path,
    data_dir: Path,
    progress: Progress,
) -> Restored:
    """Write the files of a backup whose manifest was checked into an empty data
    directory. Each file must be what the manifest says; on any refusal, what was
    written is removed again."""
    entries = _entries_of(manifest)
    written: list[Path] = []
    try:
        with _open_archive(archive) as tar:
            _restore_members(tar, entries, database, data_dir, written, progress)
    except BaseException:
        for path in reversed(written):
            with contextlib.suppress(OSError):
                path.unlink()
        with contextlib.suppress(OSError):
            shutil.rmtree(data_dir / BLOB_DIR)
        raise
    return Restored(
        len(entries),
        sum(entry.size for entry in entries.values()),
        bytes.fromhex(str(manifest.get("public_key", ""))),
        str(manifest.get("created_at", "")),
    )


# ---- making ------------------------------------------------------------------------------


def _snapshot(database: Path, target: Path) -> None:
    """A consistent copy of the live database, as one self-contained file."""
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"the database could not be copied: {exc}") from None


def _named_blobs(snapshot: Path) -> list[str]:
    connection = sqlite3.connect(snapshot)
    try:
        rows = connection.execute(
            "SELECT DISTINCT blob FROM evidence_items WHERE blob IS NOT NULL ORDER BY blob"
        ).fetchall()
    finally:
        connection.close()
    return [str(row[0]) for row in rows]


def _add_files(
    tar: tarfile.TarFile,
    snapshot: Path,
    blobs: BlobStore,
    addresses: list[str],
    progress: Progress,
) -> list[Entry]:
    total = len(addresses) + 1
    entries = [_add_file(tar, DATABASE, snapshot)]
    progress(1, total)
    for done, address in enumerate(addresses, start=2):
        try:
            data = blobs.get(address)  # checked against its address
        except BlobError as exc:
            raise BackupError(f"{exc}; run `haven audit verify`") from None
        entries.append(_add_bytes(tar, _blob_name(address), data))
        progress(done, total)
    return entries


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> Entry:
    """A file streamed into the archive, never whole in memory (the database)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
        size = handle.tell()
        handle.seek(0)
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o600
        tar.addfile(info, handle)
    return Entry(name, size, digest.hexdigest())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> Entry:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    tar.addfile(info, _BytesReader(data))
    return Entry(name, len(data), hashlib.sha256(data).hexdigest())


def _manifest(entries: list[Entry], public_key: bytes, now: datetime) -> bytes:
    document = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "public_key": public_key.hex(),
        "files": [
            {"name": entry.name, "size": entry.size, "sha256": entry.sha256} for entry in entries
        ],
    }
    return json.dumps(document, indent=1, sort_keys=True).encode()


def _blob_name(address: str) -> str:
    return f"{BLOB_DIR}/{address[:2]}/{address[2:4]}/{address}"


class _BytesReader:
    """What tarfile reads a member's content from."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)

    def read(self, size: int = -1) -> bytes:
        size = len(self._view) if size < 0 else size
        chunk, self._view = self._view[:size], self._view[size:]
        return bytes(chunk)


# ---- restoring -----------------------------------------------------------------------------


@contextlib.contextmanager
def _open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    """The tar file, if ``archive`` is a regular file (a FIFO or a device is refused)."""
    try:
        fd = os.open(archive, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise BackupError(f"{archive}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BackupError(f"{archive}: not a regular file")
        try:
            with tarfile.open(fileobj=handle, mode="r:") as tar:
                yield tar
        except (tarfile.TarError, EOFError) as exc:
            raise BackupError(f"{archive}: not a readable backup ({exc})") from None


def _member_bytes(tar: tarfile.TarFile, name: str, limit: int) -> bytes:
    try:
        info = tar.getmember(name)
    except KeyError:
        raise BackupError(f"the backup has no {name}") from None
    if not info.isreg() or info.size > limit:
        raise BackupError(f"the backup's {name} is not a file of a sensible size")
    reader = tar.extractfile(info)
    if reader is None:
        raise BackupError(f"the backup's {name} cannot be read")
    return reader.read(limit)


def _entries_of(manifest: dict[str, Any]) -> dict[str, Entry]:
    files = manifest.get("files")
    if not isinstance(files, list):
        raise BackupError("the backup's manifest lists no files")
    entries: dict[str, Entry] = {}
    for item in files:
        entry = _entry(item)
        if entry.name in entries:
            raise BackupError(f"the backup's manifest lists {entry.name} twice")
        entries[entry.name] = entry
    if DATABASE not in entries:
        raise BackupError("the backup's manifest has no database")
    return entries


def _entry(item: object) -> Entry:
    if not isinstance(item, dict):
        raise BackupError("the backup's manifest is malformed")
    name, size, digest = item.get("name"), item.get("size"), item.get("sha256")
    valid_name = name == DATABASE or (isinstance(name, str) and _blob_match(name))
    if not valid_name or not isinstance(size, int) or size < 0 or not isinstance(digest, str):
        raise BackupError("the backup's manifest is malformed")
    return Entry(str(name), size, digest)


def _blob_match(name: str) -> bool:
    match = _BLOB_NAME.fullmatch(name)
    return bool(match) and match is not None and name == _blob_name(match.group(3))


def _restore_members(
    tar: tarfile.TarFile,
    entries: dict[str, Entry],
    database: Path,
    data_dir: Path,
    written: list[Path],
    progress: Progress,
) -> None:
    blobs = BlobStore(data_dir / BLOB_DIR)
    seen: set[str] = set()
    for info in tar:
        if info.name in (MANIFEST, SIGNATURE):
            continue
        entry = entries.get(info.name)
        if entry is None or info.name in seen:
            raise BackupError(f"the backup holds a file its manifest does not list: {info.name!r}")
        if not info.isreg() or info.size != entry.size:
            raise BackupError(f"{info.name} in the backup is not the file its manifest lists")
        seen.add(info.name)
        reader = tar.extractfile(info)
        if reader is None:
            raise BackupError(f"{info.name} in the backup cannot be read")
        if info.name == DATABASE:
            written.append(database)
            _write_database(database, reader, entry)
        else:
            written.append(_restore_blob(blobs, reader, entry))
        progress(len(seen), len(entries))
    missing = sorted(entries.keys() - seen)
    if missing:
        raise BackupError(f"the backup lacks {len(missing)} file(s) its manifest lists")


def _restore_blob(blobs: BlobStore, reader: IO[bytes], entry: Entry) -> Path:
    data = reader.read(entry.size)
    address = entry.name.rsplit("/", 1)[-1]
    if len(data) != entry.size or blob_address(data) != address:
        raise BackupError(f"{entry.name} in the backup is not the blob it is named for (changed)")
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise BackupError(f"{entry.name} in the backup does not match its manifest (changed)")
    blobs.put(data)
    return blobs.path_of(address)


def _write_database(database: Path, reader: IO[bytes], entry: Entry) -> None:
    """The database streamed to its file (0600), checked against the manifest."""
    if database.exists():
        raise BackupError(f"{database} exists; restore into an empty data directory")
    private_file(database)
    digest = hashlib.sha256()
    with open(database, "r+b") as handle:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        os.fsync(handle.fileno())
    if digest.hexdigest() != entry.sha256:
        raise BackupError(f"{entry.name} in the backup does not match its manifest (changed)")
