"""One writer at a time on a data directory: a lock on ``DATA_DIR/haven.lock``.

With SQLite, one `haven run` serves a data directory, and the operator commands that
change what it relies on (key rotation, erasure, retention, restore, migration) wait
until it has stopped: two processes would each keep their own timers and caches, and a
rotation under a running bot makes it fail to keep evidence. Each takes the lock
exclusively; a second is refused in one line naming the holder's pid.

With PostgreSQL several instances may serve one database: `haven run` takes the lock
shared, so any number run side by side, while key rotation still takes it exclusively.
(It sees only the instances using this directory; README, "Running on PostgreSQL".)

The lock is ``flock`` on an open file: the kernel lets it go when the process ends,
however it ends, so a crash never leaves a stale lock behind. The file itself stays.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from storage.data_dir import FILE_MODE, DataDirError

LOCK_FILE = "haven.lock"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_MAX_NOTE = 200


class DataDirBusy(DataDirError):
    """Another process holds the data directory; the message names its pid."""


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, doing: str, *, shared: bool = False) -> Iterator[None]:
    """Hold the data directory's lock while the block runs; ``doing`` says what for (it
    is written in the lock file, so that whoever is refused learns what holds it)."""
    path = data_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise DataDirError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, FILE_MODE)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirBusy(
                f"the data directory {data_dir} is in use by {_holder(fd)}; "
                f"stop it first, then try again"
            ) from None
        # While this lock is held, no exclusive holder is: any note is a crashed one's.
        os.ftruncate(fd, 0)
        if not shared:
            os.pwrite(fd, f"{os.getpid()} {doing}\n".encode(), 0)
        try:
            yield
        finally:
            if not shared:
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it: "pid 1234 (haven run)"."""
    note = os.pread(fd, _MAX_NOTE, 0).decode("utf-8", errors="replace").strip()
    pid, _, doing = note.partition(" ")
    if not pid.isdigit():
        return "other Haven processes (`haven run` on PostgreSQL)"
    return f"another Haven process (pid {pid}, {doing})" if doing else f"pid {pid}"
