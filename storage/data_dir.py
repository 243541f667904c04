"""The data directory: where the database, blobs, keys and logs of one deployment live.

Everything in it is private: the database holds answers, staff notes, senders and file
names in plaintext. So the directories Haven creates are 0700 and its files 0600 (the
log's public key 0644), set explicitly, whatever the umask. An existing directory that
others can read is used with a warning; one that anyone can write to is refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

BLOB_DIR = "blobs"
DIR_MODE = 0o700
FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class DataDirError(Exception):
    """The data directory cannot be used; the message says why in one line."""


def prepare_data_dir(path: Path) -> None:
    """Create the data directory (and any missing parent) 0700 if needed; refuse one
    Haven cannot write to, or one anyone may write to."""
    try:
        make_private_dirs(path)
    except OSError as exc:
        raise DataDirError(f"cannot create the data directory {path}: {exc.strerror}") from exc
    if not path.is_dir():
        raise DataDirError(f"the data directory {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(f"the data directory {path} is not writable")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o002:
        raise DataDirError(
            f"the data directory {path} can be written by anyone (mode {mode:04o}); "
            f"run `chmod 700 {path}`"
        )


def exposure_warning(path: Path) -> str | None:
    """One line if group or others can enter or read the data directory, else None."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (
        f"the data directory {path} is open to group or others (mode {mode:04o}), and it "
        f"holds plaintext (answers, notes, names); run `chmod 700 {path}`"
    )


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and each missing directory above it, each exactly 0700."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process
        os.chmod(directory, DIR_MODE)  # exact mode whatever the umask


def private_file(path: Path) -> None:
    """Make sure ``path`` exists as a regular file of mode 0600 before anyone writes to
    it (the database, its WAL and shared memory, the log): created so if missing, and an
    existing one of ours narrowed to 0600. Never through a symbolic link."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataDirError(f"{path} is not a regular file")
        if stat.S_IMODE(info.st_mode) != FILE_MODE and info.st_uid == os.geteuid():
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def narrow_if_present(path: Path) -> None:
    """Set an existing file of ours to 0600 (a WAL or shared-memory file left by an older
    Haven at 0644); nothing if it is missing."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) != FILE_MODE:
        os.chmod(path, FILE_MODE)


def write_public_file(path: Path, data: bytes) -> None:
    """Write a file meant to be handed out (the log's public key): mode 0644, never
    writable by others, replacing any file or link at ``path`` rather than writing
    through it."""
    temp = path.with_name(f".{path.name}.tmp")
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _CLOEXEC, PUBLIC_FILE_MODE)
    try:
        os.fchmod(fd, PUBLIC_FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
