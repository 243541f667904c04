"""The log's Ed25519 signing key: one PEM file (PKCS#8, unencrypted), mode 0600.

Why a key of its own rather than one derived from the master key: the public key is the
log's identity. It is published, printed in every bundle and pinned by whoever verifies
one (``haven verify --key``), so it must survive master key rotations unchanged. What it
protects is different too: a stolen signing key lets someone sign false tree heads, but
reads no evidence; a stolen master key reads evidence, but signs nothing.

Like the master key file, it is created exclusively (an existing key is never replaced)
and refused when group or others can read it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

KEY_FILE_MODE = 0o600
_MAX_KEY_FILE_BYTES = 4096


class LogKeyError(Exception):
    """The signing key file cannot be created or used. One line; never key material."""


def create_log_key(path: Path) -> Ed25519PrivateKey:
    """Generate a signing key and write it to a new file, mode 0600, fsynced."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, KEY_FILE_MODE)
    except FileExistsError:
        raise LogKeyError(f"log signing key {path} exists; refusing to replace it") from None
    except OSError as exc:
        raise LogKeyError(f"cannot create log signing key {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, KEY_FILE_MODE)
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        _fsync_directory(path.parent)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise LogKeyError(f"cannot write log signing key {path}: {exc.strerror}") from None
    return key


def load_log_key(path: Path) -> Ed25519PrivateKey:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise LogKeyError(f"log signing key {path} does not exist") from None
    except OSError as exc:
        raise LogKeyError(f"cannot open log signing key {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            raise LogKeyError(
                f"log signing key {path} must be a regular file only its owner can read; "
                f"run `chmod 600 {path}`"
            )
        pem = os.read(fd, _MAX_KEY_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise LogKeyError(f"log signing key {path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LogKeyError(f"log signing key {path} is not an Ed25519 key")
    return key


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
