"""Which files the console's `/attach PATH` may take as evidence, and reading them.

Whatever is attached is kept, hashed and logged, so a path must never pull in something
other than a file the person chose: a symbolic link to `/etc/shadow`, `/proc/self/environ`
(the process's environment, with its tokens), a device that reads without end, or a FIFO
that blocks. Only a regular file reached without a link in its last step, outside
/proc, /sys and /dev, is taken; the file read is the file checked (same device and
inode), and never more than its size when it was checked.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SYSTEM_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))
_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class AttachRefused(Exception):
    """The path cannot be attached; the message says why, kindly, in one line."""


def attachable(path: Path) -> tuple[Path, os.stat_result]:
    """The path and what it was when checked, or AttachRefused."""
    if path.is_symlink():
        raise AttachRefused(f"{path} is a link; attach the file itself")
    resolved = path.resolve()
    if any(resolved.is_relative_to(tree) for tree in SYSTEM_TREES):
        raise AttachRefused(f"{path} is a system file, not one of yours; it was not attached")
    try:
        info = _checked(path)
    except FileNotFoundError:
        raise AttachRefused(f"no such file: {path}") from None
    except OSError as exc:
        raise AttachRefused(f"cannot read {path}: {exc.strerror or 'refused'}") from None
    return resolved, info


def read_attachable(path: Path, checked: os.stat_result) -> bytes:
    """The bytes of the file checked by :func:`attachable`, if it is still that file."""
    fd = os.open(path, _FLAGS)
    with os.fdopen(fd, "rb") as handle:
        now = os.fstat(handle.fileno())
        if (now.st_dev, now.st_ino) != (checked.st_dev, checked.st_ino):
            raise OSError(f"{path} was replaced after it was attached")
        return handle.read(checked.st_size)


def _checked(path: Path) -> os.stat_result:
    fd = os.open(path, _FLAGS)
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(info.st_mode):
        raise AttachRefused(f"{path} is not a regular file; it was not attached")
    return info
