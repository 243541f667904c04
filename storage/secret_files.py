"""Small secret files (the master key, the log signing key): created once, mode 0600.

A secret file is created exclusively (``O_CREAT | O_EXCL``), so an existing key — and
everything it protects — is never overwritten; the file and its directory are fsynced
before the key is used, so a key that wrapped or signed anything is on disk. Reading
checks the open file, not the path (what is checked is what is read): it must be a
regular file that only its owner can read, and small. Errors are one line naming the
file and never hold its content.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SECRET_FILE_MODE = 0o600
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class SecretFileError(Exception):
    """A secret file cannot be created or read. One line; never its content."""


def create_secret_file(path: Path, payload: bytes, what: str) -> None:
    """Write ``payload`` to the new file ``path``; ``what`` names it in errors."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _CLOEXEC, SECRET_FILE_MODE)
    except FileExistsError:
        raise SecretFileError(
            f"{what} {path} already exists; refusing to overwrite it (it may protect existing data)"
        ) from None
    except FileNotFoundError:
        raise SecretFileError(
            f"cannot create {what} {path}: its directory does not exist"
        ) from None
    except OSError as exc:
        raise SecretFileError(f"cannot create {what} {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, SECRET_FILE_MODE)  # exact mode whatever the umask
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_directory(path.parent)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise SecretFileError(f"cannot write {what} {path}: {exc.strerror}") from None


def read_secret_file(path: Path, what: str, max_bytes: int) -> bytes:
    """The content of ``path``, after checking it is a private regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    except FileNotFoundError:
        raise SecretFileError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise SecretFileError(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        _check_private(os.fstat(fd), path, what)
        content = _read_at_most(fd, max_bytes + 1)
    except OSError as exc:
        raise SecretFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if len(content) > max_bytes:
        raise SecretFileError(f"{what} {path} is too large to be a key file")
    return content


def replace_secret_file(source: Path, target: Path) -> None:
    """Atomically put ``source`` in place of ``target`` (which is destroyed), durably."""
    os.replace(source, target)
    _fsync_directory(target.parent)


def _check_private(info: os.stat_result, path: Path, what: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise SecretFileError(f"{what} {path} is not a regular file")
    if info.st_mode & 0o077:
        raise SecretFileError(
            f"{what} {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
        )


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, limit - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _fsync_directory(directory: Path) -> None:
    """Make a new directory entry durable (POSIX; a no-op where directories can't open)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
