"""Reading a zip archive nobody vouches for, without extracting it.

An evidence bundle arrives from outside (a lawyer's e-mail, a USB stick), so every member
is checked before a byte of it is read: names that climb out of a directory, absolute
paths, symbolic links, duplicate names, encrypted members and unusual compression are
refused; declared sizes are capped per member and in total, and a member that claims to
inflate far beyond its compressed size is treated as a decompression bomb. Members are
then read into memory under a size cap or streamed in chunks: nothing touches the disk.

Capping the *declared* sizes bounds what is read, because :mod:`zipfile` never yields
more than a member's declared size: it stops there and then fails the CRC check.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from bot.evidence.filenames import shown

MiB = 1024 * 1024
GiB = 1024 * MiB
_CHUNK = MiB
_ALLOWED_COMPRESSION = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_ENCRYPTED_FLAG = 0x1
# Zip errors come in many types: a truncated central directory is an EOFError, a bad
# header a ValueError, an unknown feature NotImplementedError, a short read an OSError.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    OSError,
    NotImplementedError,
)


@dataclass(frozen=True)
class ZipLimits:
    """Caps on what an archive may make us read; evidence items are 20 MB by default."""

    max_archive_bytes: int = 4 * GiB
    max_total_bytes: int = 4 * GiB
    max_member_bytes: int = GiB
    max_members: int = 100_000
    max_ratio: int = 100
    ratio_floor_bytes: int = MiB
    """Members below this size are never bombs, however well they compress."""


DEFAULT_LIMITS = ZipLimits()


class ArchiveProblem(StrEnum):
    UNREADABLE = "unreadable"
    UNSAFE = "unsafe"
    TOO_LARGE = "too_large"


class ArchiveError(Exception):
    """The archive is refused; the message is one line, fit to show the user."""

    def __init__(self, problem: ArchiveProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


class SafeZip:
    """An opened, fully vetted archive; use as a context manager."""

    def __init__(self, path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._zip, self._file = _open(path, limits)
        try:
            self._members = _vet(self._zip.infolist(), limits)
        except ArchiveError:
            self.close()
            raise

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """The archive and the file under it (given as an open file, zipfile leaves it)."""
        self._zip.close()
        self._file.close()

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._members)

    def size(self, name: str) -> int:
        """The member's declared (and, once read, CRC-checked) uncompressed size."""
        return self._members[name].file_size

    def read(self, name: str, max_bytes: int) -> bytes:
        """The whole member, refused when it declares more than ``max_bytes``."""
        if self.size(name) > max_bytes:
            raise ArchiveError(
                ArchiveProblem.TOO_LARGE,
                f"{shown(name)} is {self.size(name)} bytes; at most {max_bytes} expected",
            )
        return b"".join(self.chunks(name))

    def chunks(self, name: str) -> Iterator[bytes]:
        """The member's bytes in chunks, so a large item is hashed without being held."""
        try:
            with self._zip.open(self._members[name]) as member:
                while chunk := member.read(_CHUNK):
                    yield chunk
        except _ZIP_ERRORS as exc:
            raise ArchiveError(
                ArchiveProblem.UNREADABLE, f"{shown(name)} cannot be read: {_reason(exc)}"
            ) from exc


def _open(path: Path, limits: ZipLimits) -> tuple[zipfile.ZipFile, BinaryIO]:
    """The archive, if ``path`` is a regular file. Opened without blocking and checked on
    the open descriptor: a FIFO would block for a writer, and a device (/dev/zero) has
    no end to read to."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ArchiveError(ArchiveProblem.UNREADABLE, _reason(exc)) from exc
    handle = os.fdopen(fd, "rb")
    try:
        facts = os.fstat(fd)
        if not stat.S_ISREG(facts.st_mode):
            raise ArchiveError(ArchiveProblem.UNREADABLE, "not a regular file")
        if facts.st_size > limits.max_archive_bytes:
            raise ArchiveError(
                ArchiveProblem.TOO_LARGE,
                f"the archive is {facts.st_size} bytes; at most {limits.max_archive_bytes} "
                "accepted",
            )
        return zipfile.ZipFile(handle), handle
    except ArchiveError:
        handle.close()
        raise
    except _ZIP_ERRORS as exc:
        handle.close()
        raise ArchiveError(
            ArchiveProblem.UNREADABLE, f"not a readable zip archive: {_reason(exc)}"
        ) from exc


def _vet(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> dict[str, zipfile.ZipInfo]:
    if len(infos) > limits.max_members:
        raise ArchiveError(
            ArchiveProblem.TOO_LARGE,
            f"{len(infos)} members; at most {limits.max_members} accepted",
        )
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        _vet_member(info, limits)
        if info.filename in members:
            raise ArchiveError(
                ArchiveProblem.UNSAFE, f"the name {shown(info.filename)} appears twice"
            )
        members[info.filename] = info
        total += info.file_size
        if total > limits.max_total_bytes:
            raise ArchiveError(
                ArchiveProblem.TOO_LARGE,
                f"members add up to more than {limits.max_total_bytes} bytes uncompressed",
            )
    return members


def _vet_member(info: zipfile.ZipInfo, limits: ZipLimits) -> None:
    name = info.filename
    unsafe = _unsafe_name(name)
    if unsafe:
        raise ArchiveError(ArchiveProblem.UNSAFE, f"{shown(name)}: {unsafe}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(ArchiveProblem.UNSAFE, f"{shown(name)} is a symbolic link")
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise ArchiveError(ArchiveProblem.UNSAFE, f"{shown(name)} is encrypted")
    if info.compress_type not in _ALLOWED_COMPRESSION:
        raise ArchiveError(
            ArchiveProblem.UNSAFE,
            f"{shown(name)} uses compression method {info.compress_type}; "
            "only stored and deflated are accepted",
        )
    if info.file_size > limits.max_member_bytes:
        raise ArchiveError(
            ArchiveProblem.TOO_LARGE,
            f"{shown(name)} is {info.file_size} bytes uncompressed; "
            f"at most {limits.max_member_bytes} accepted",
        )
    ratio_cap = limits.max_ratio * max(info.compress_size, 1)
    if info.file_size > limits.ratio_floor_bytes and info.file_size > ratio_cap:
        raise ArchiveError(
            ArchiveProblem.TOO_LARGE,
            f"{shown(name)} would inflate {info.file_size // max(info.compress_size, 1)}-fold "
            f"(at most {limits.max_ratio}-fold accepted): a decompression bomb",
        )


def _unsafe_name(name: str) -> str:
    """Why ``name`` could land outside the directory it is extracted to; empty if it cannot."""
    if "\\" in name:
        return "backslash in a member name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = name.removesuffix("/").split("/")
    if ".." in parts:
        return "path climbs out of the archive (..)"
    if any(part in ("", ".") for part in parts):
        return "empty or '.' path component"
    if any(not char.isprintable() for char in name):
        return "control character in a member name"
    return ""


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return shown(text)
