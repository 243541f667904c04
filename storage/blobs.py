"""Content-addressed blob store: files named by the SHA-256 of their bytes.

What is stored is already ciphertext (sealed by :mod:`storage.vault`); the store neither
encrypts nor knows about cases. The database keeps each item's metadata and the address
of its blob, so an object store can replace this directory later behind the same API.

Layout: ``root/ab/cd/abcd…`` where ``abcd…`` is the 64-digit lowercase hex SHA-256 of
the blob's bytes. Two levels of 256 directories keep any one directory small.

Guarantees:

- **Integrity.** :meth:`BlobStore.get` rehashes what it read and refuses bytes whose hash
  is not the address, so a flipped bit on disk is reported, never returned.
- **Atomicity and durability.** :meth:`BlobStore.put` writes a temporary file in the
  blob's own directory, fsyncs it, renames it into place (``os.replace``, atomic on
  POSIX) and fsyncs the directory and every directory above it up to the root's parent.
  A crash leaves either no blob or the whole blob, plus at worst a ``.tmp-*``
  file that :meth:`BlobStore.addresses` ignores; when ``put`` returns, the blob survives
  power loss, so the caller may commit the row naming it. :meth:`BlobStore.write` does
  the same for a blob whose bytes are made as they are written (its temporary file lies
  in ``root/.incoming`` until its address is known).
- **Idempotence.** Storing the same bytes twice is one file; a ``put`` of bytes whose
  existing copy is damaged rewrites it, which repairs it.
- **No path tricks.** An address must be exactly 64 lowercase hex digits before it is
  turned into a path, so ``../``, absolute paths and odd spellings are refused.
- **Private.** Files are created 0600 and directories 0700.

I/O is blocking; the ``a*`` methods run it in a worker thread for the event loop.

:class:`Blobs` is what Haven asks of a blob store; this one serves SQLite deployments.
With PostgreSQL the blobs live in the database (storage/blob_chunks.py), written in
their item's own transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

DIR_MODE = 0o700
FILE_MODE = 0o600
_ADDRESS = re.compile(r"[0-9a-f]{64}")
_TEMP_PREFIX = ".tmp-"
# Where BlobStore.write makes a blob before its address is known. Not the root itself:
# every blob passing through would leave the root's own entry changed, so syncing the
# root (see _sync_entries) would wait for a journal commit every time instead of
# finding it clean.
_INCOMING = ".incoming"
# What stream() reads at a time.
STREAM_CHUNK = 256 * 1024
# How much a blob written piece by piece (BlobStore.write) gathers before its pages are
# handed to the disk (see _Draft).
WRITEBACK_STEP = 1024 * 1024

Sink = Callable[[memoryview], None]
"""Takes the next piece of a blob being made (BlobStore.write)."""


class Blobs(Protocol):
    """A store of sealed evidence, addressed by the SHA-256 of the stored bytes."""

    in_transaction: bool
    """True: a blob is written with its item's connection, in its item's transaction
    (PostgreSQL). False: it is written and made durable before that transaction, so it
    may be written ahead, outside it (files)."""

    async def put_in(
        self, conn: AsyncConnection, data: bytes | bytearray, address: str | None = None
    ) -> str:
        """Store ``data`` and return its address; durable once ``conn`` commits.
        ``address``: the SHA-256 of ``data``, computed by the caller in the pass that
        made it (storage/sealed_files.py), so that it is not computed again here."""

    async def aput(self, data: bytes | bytearray, address: str | None = None) -> str:
        """Store ``data`` on its own (durable when this returns); its address
        (``address``: as for :meth:`put_in`)."""

    async def awrite(self, make: Callable[[Sink], str]) -> str:
        """Store what ``make`` gives the sink, piece by piece as it makes it (``make``
        runs in a worker thread and returns the SHA-256 of all it gave: the address).
        Durable when this returns, like :meth:`aput`; nothing is kept if ``make``
        fails."""

    async def aget(self, address: str) -> bytes:
        """The bytes under ``address``, verified against it (BlobError otherwise)."""

    def stream(self, address: str) -> AsyncIterator[bytes]:
        """The bytes under ``address`` a piece at a time, never the whole in memory;
        BlobError at the end if they do not hash to it."""

    async def aexists(self, address: str) -> bool: ...

    async def adelete(self, address: str) -> bool:
        """Remove a blob (after crypto-shredding: reclaims space); True if there was one."""

    async def aleftovers(self, named: Collection[str], before: float) -> list[str]:
        """What nobody needs and was written before ``before`` (a POSIX time): blobs
        whose address is not in ``named``, and what crashed writes left."""

    async def adiscard(self, leftovers: Iterable[str]) -> int:
        """Remove what :meth:`aleftovers` found; how many were still there."""


class BlobError(Exception):
    """A blob is missing, corrupted, unreadable or unwritable, or an address is invalid."""


def blob_address(data: bytes | bytearray) -> str:
    """The address ``data`` is stored under: its SHA-256, 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def check_address(address: str) -> str:
    """``address`` if it is 64 lowercase hex digits, else :class:`BlobError`."""
    if not isinstance(address, str) or _ADDRESS.fullmatch(address) is None:
        shown = repr(address) if len(repr(address)) <= 80 else repr(address)[:77] + "..."
        raise BlobError(f"invalid blob address {shown}: expected 64 lowercase hex digits")
    return address


class BlobStore:
    """Encrypted evidence files under ``root``, addressed by SHA-256."""

    in_transaction = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"BlobStore({str(self.root)!r})"

    def path_of(self, address: str) -> Path:
        """Where the blob ``address`` lives (whether or not it exists)."""
        check_address(address)
        return self.root / address[:2] / address[2:4] / address

    # --- blocking API -------------------------------------------------------------------

    def put(self, data: bytes | bytearray, address: str | None = None) -> str:
        """Store ``data`` durably and return its address (given by a caller who hashed
        ``data`` as it made it, or computed here). Idempotent. One copy: the bytes go
        from ``data`` to the file in one write, never through another buffer."""
        address = address or blob_address(data)
        path = self.path_of(address)
        try:
            if not self._is_intact(path, address, len(data)):
                self._make_dirs(path.parent)
                self._write_atomically(path, data)
            # Also for a copy found in place: the put that wrote it may not have synced
            # its directories yet.
            self._sync_entries(path.parent)
        except OSError as exc:
            raise BlobError(f"cannot store blob {address}: {_reason(exc)}") from None
        return address

    def get(self, address: str) -> bytes:
        """The bytes stored under ``address``, verified against it."""
        path = self.path_of(address)
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            raise BlobError(f"blob {address} is missing") from None
        except OSError as exc:
            raise BlobError(f"blob {address} cannot be read: {_reason(exc)}") from None
        if blob_address(data) != address:
            raise BlobError(f"blob {address} is corrupted")
        return data

    def write(self, make: Callable[[Sink], str]) -> str:
        """Store what ``make`` gives the sink as it makes it; the address it returns.

        The pieces go to a temporary file in ``.incoming`` as they come, so the disk writes
        while the rest is still being made (a file sealed and then written took the sum
        of both); once ``make`` returns, the file is synced and renamed under its
        address as :meth:`put` does."""
        try:
            self._make_dirs(self.root / _INCOMING)
            draft = _Draft(self.root / _INCOMING)
        except OSError as exc:
            raise BlobError(f"cannot store a blob: {_reason(exc)}") from None
        try:
            address = check_address(make(draft.write))
            draft.sync()
            path = self.path_of(address)
            self._make_dirs(path.parent)
            draft.rename(path)
            self._sync_entries(path.parent)
        except OSError as exc:
            draft.discard()
            raise BlobError(f"cannot store a blob: {_reason(exc)}") from None
        except BaseException:
            draft.discard()
            raise
        return address

    def exists(self, address: str) -> bool:
        """Whether a file is stored under ``address`` (its content is not checked)."""
        return self.path_of(address).is_file()

    def delete(self, address: str) -> bool:
        """Remove a blob; ``True`` if there was one.

        Meant for cleaning up after a case was crypto-shredded: the ciphertext is already
        noise once its data key is gone, so this reclaims space, it does not erase (a
        journaling file system or a backup may keep copies — which is why Haven relies on
        crypto-shredding rather than on deleting files).
        """
        path = self.path_of(address)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BlobError(f"cannot delete blob {address}: {_reason(exc)}") from None
        with contextlib.suppress(OSError):
            _fsync_directory(path.parent)
        return True

    def addresses(self) -> Iterator[str]:
        """Every stored blob's address, in order (temporary and stray files skipped)."""
        for shard in self._shards():
            for entry in sorted(shard.iterdir()):
                if _is_blob_in(entry, shard):
                    yield entry.name

    def leftovers(self, named: Collection[str], before: float) -> list[Path]:
        """Files last written before ``before`` (a POSIX time) that nothing needs: blobs
        whose address is not in ``named``, and temporary files a crash left behind."""
        found = [
            entry
            for entry in _entries(self.root / _INCOMING)
            if entry.name.startswith(_TEMP_PREFIX)
            and entry.is_file()
            and entry.stat().st_mtime < before
        ]
        for shard in self._shards():
            for entry in sorted(shard.iterdir()):
                temporary = entry.name.startswith(_TEMP_PREFIX) and entry.is_file()
                unnamed = _is_blob_in(entry, shard) and entry.name not in named
                if (temporary or unnamed) and entry.stat().st_mtime < before:
                    found.append(entry)
        return found

    def discard(self, paths: Iterable[Path]) -> int:
        """Delete files :meth:`leftovers` found; how many were still there."""
        removed = 0
        for path in paths:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise BlobError(f"cannot delete {path.name}: {_reason(exc)}") from None
            removed += 1
        return removed

    def _shards(self) -> Iterator[Path]:
        """The second-level directories, in order."""
        for first in _entries(self.root):
            if not _is_shard(first.name) or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if _is_shard(second.name) and second.is_dir():
                    yield second

    # --- async wrappers -------------------------------------------------------------------

    async def aput(self, data: bytes | bytearray, address: str | None = None) -> str:
        return await asyncio.to_thread(self.put, data, address)

    async def awrite(self, make: Callable[[Sink], str]) -> str:
        return await asyncio.to_thread(self.write, make)

    async def aget(self, address: str) -> bytes:
        return await asyncio.to_thread(self.get, address)

    async def aexists(self, address: str) -> bool:
        return await asyncio.to_thread(self.exists, address)

    async def adelete(self, address: str) -> bool:
        return await asyncio.to_thread(self.delete, address)

    async def put_in(
        self, conn: AsyncConnection, data: bytes | bytearray, address: str | None = None
    ) -> str:
        """A file, fsynced before ``conn``'s transaction (which names it) commits."""
        return await self.aput(data, address)

    async def stream(self, address: str) -> AsyncIterator[bytes]:
        path = self.path_of(address)
        digest = hashlib.sha256()
        try:
            file = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise BlobError(f"blob {address} is missing") from None
        except OSError as exc:
            raise BlobError(f"blob {address} cannot be read: {_reason(exc)}") from None
        try:
            while piece := await asyncio.to_thread(file.read, STREAM_CHUNK):
                digest.update(piece)
                yield piece
        finally:
            file.close()
        if digest.hexdigest() != address:
            raise BlobError(f"blob {address} is corrupted")

    async def aleftovers(self, named: Collection[str], before: float) -> list[str]:
        found = await asyncio.to_thread(self.leftovers, named, before)
        return [str(path) for path in found]

    async def adiscard(self, leftovers: Iterable[str]) -> int:
        return await asyncio.to_thread(self.discard, [Path(p) for p in leftovers])

    # --- internals ------------------------------------------------------------------------

    @staticmethod
    def _is_intact(path: Path, address: str, size: int) -> bool:
        """A regular file of the right size whose bytes hash to ``address``."""
        try:
            info = path.stat()
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return False
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest() == address

    def _make_dirs(self, directory: Path) -> None:
        """Create ``directory`` and the levels above it up to the root, each 0700 (made
        durable by :meth:`_sync_entries` once the blob is in place)."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            if current == self.root or current.parent == current:
                break
            current = current.parent
        for path in reversed(missing):
            if path == self.root:
                path.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                continue  # made by a concurrent put
            os.chmod(path, DIR_MODE)  # exact mode whatever the umask

    def _sync_entries(self, directory: Path) -> None:
        """Make the entries on a blob's way from the root's parent down durable: its own
        in ``directory``, and each directory's in the one above. All of them, not only
        the ones this put created: another put may have created one a moment ago and
        not synced it yet. One journal commit covers what is dirty; a directory already
        clean costs next to nothing (tens of microseconds here)."""
        for level in (directory, directory.parent, self.root, self.root.parent):
            _fsync_directory(level)

    @staticmethod
    def _write_atomically(path: Path, data: bytes | bytearray) -> None:
        # mkstemp creates the file O_EXCL with mode 0600.
        fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as file:
                os.fchmod(file.fileno(), FILE_MODE)
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise


class _Draft:
    """A blob's temporary file in ``.incoming`` while its bytes are being made.

    Every ``WRITEBACK_STEP`` bytes the pages written so far are handed to the disk: on
    Linux ``POSIX_FADV_DONTNEED`` starts writing back a range's dirty pages without
    waiting for them (and drops only pages already clean), so the final fsync waits for
    the tail, not for the whole file. Elsewhere the advice may do nothing; the fsync
    still makes the file durable."""

    def __init__(self, directory: Path) -> None:
        # mkstemp creates the file O_EXCL with mode 0600.
        self.fd, self.name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=directory)
        os.fchmod(self.fd, FILE_MODE)
        self.written = 0
        self.handed = 0

    def write(self, piece: memoryview) -> None:
        done = 0
        while done < len(piece):  # os.write may write less than it was given
            with piece[done:] as rest:
                done += os.write(self.fd, rest)
        self.written += done
        if self.written - self.handed >= WRITEBACK_STEP:
            _hand_to_disk(self.fd, self.handed, self.written - self.handed)
            self.handed = self.written

    def sync(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1

    def rename(self, path: Path) -> None:
        os.replace(self.name, path)

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        with contextlib.suppress(OSError):
            os.unlink(self.name)


def _hand_to_disk(fd: int, offset: int, length: int) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _entries(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.is_dir() else []


def _is_blob_in(entry: Path, shard: Path) -> bool:
    """A blob file where its address puts it."""
    name = entry.name
    return (
        _ADDRESS.fullmatch(name) is not None
        and name[:2] == shard.parent.name
        and name[2:4] == shard.name
        and entry.is_file()
    )


def _is_shard(name: str) -> bool:
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _fsync_directory(directory: Path) -> None:
    """Make directory entries (a rename, a new file) durable. POSIX only."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
