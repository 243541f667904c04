"""The log's Ed25519 signing key: one PEM file (PKCS#8, unencrypted), mode 0600.

Why a key of its own rather than one derived from the master key: the public key is the
log's identity. It is published, printed in every bundle and pinned by whoever verifies
one (``haven verify --key``), so it must survive master key rotations unchanged. What it
protects is different too: a stolen signing key lets someone sign false tree heads, but
reads no evidence; a stolen master key reads evidence, but signs nothing.

Like the master key file it is a secret file (storage/secret_files.py): created
exclusively, never replaced, and refused when group or others can read it.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from storage.secret_files import SecretFileError, create_secret_file, read_secret_file

WHAT = "log signing key"
_MAX_KEY_FILE_BYTES = 4096


class LogKeyError(Exception):
    """The signing key file cannot be created or used. One line; never key material."""


def create_log_key(path: Path) -> Ed25519PrivateKey:
    """Generate a signing key and write it to a new file, mode 0600, fsynced."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        create_secret_file(path, pem, WHAT)
    except SecretFileError as exc:
        raise LogKeyError(str(exc)) from None
    return key


def load_log_key(path: Path) -> Ed25519PrivateKey:
    try:
        pem = read_secret_file(path, WHAT, _MAX_KEY_FILE_BYTES)
    except SecretFileError as exc:
        raise LogKeyError(str(exc)) from None
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # A damaged file can parse far enough to name an algorithm nobody supports.
        raise LogKeyError(
            f"log signing key {path} is damaged (not a readable PEM private key); "
            "restore it from your backup"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LogKeyError(f"log signing key {path} is not an Ed25519 key")
    return key
