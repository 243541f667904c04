"""The master key: where it comes from, how it is kept, how it is named in logs.

Haven uses envelope encryption (see :mod:`storage.vault`): each case's content is
encrypted with the case's own data key, and data keys are stored in the database only
*wrapped* by the master key. The master key itself never enters the database. It comes
from one of two places:

- the ``HAVEN_MASTER_KEY`` environment variable: standard base64 of 32 bytes
  (``openssl rand -base64 32`` makes one); it wins when set, so containers and secret
  managers can inject it without a file;
- a key file created by :func:`create_key_file`: one line of base64 text, mode 0600.
  A file that group or others could read is refused: a key readable by every account on
  the machine protects nothing.

Both sources also accept 64 hexadecimal digits, for operators whose tooling prefers hex.

Nothing here ever puts key material into a message, an exception or a ``repr``: a key is
named by its :attr:`MasterKey.key_id`, the first 8 bytes of SHA-256(key) in hex, which is
safe to log and lets the database record which master key wrapped each data key.
:class:`KeyRing` holds the current key plus retired ones during a rotation, looked up by
that id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from storage.secret_files import SecretFileError, create_secret_file, read_secret_file

MASTER_KEY_SIZE = 32
KEY_ID_BYTES = 8
_MAX_KEY_FILE_BYTES = 4096  # a key file is one short line; anything bigger is not one


class MasterKeyError(Exception):
    """The master key is missing or unusable. One line; never contains key material."""


class KeyFileError(MasterKeyError):
    """The key file cannot be created or read safely. One line, names the path."""


@dataclass(frozen=True)
class MasterKey:
    """32 secret bytes. ``repr``/``str`` show only the key id, never the bytes."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != MASTER_KEY_SIZE:
            raise MasterKeyError(f"a master key must be exactly {MASTER_KEY_SIZE} bytes")

    @classmethod
    def generate(cls) -> MasterKey:
        """A fresh key from the operating system's CSPRNG."""
        return cls(secrets.token_bytes(MASTER_KEY_SIZE))

    @property
    def key_id(self) -> str:
        """First 8 bytes of SHA-256(key), hex: identifies the key, reveals nothing of it."""
        return hashlib.sha256(self.secret).digest()[:KEY_ID_BYTES].hex()

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def to_text(self) -> str:
        """The base64 text form, as written to a key file or put in HAVEN_MASTER_KEY."""
        return base64.b64encode(self.secret).decode("ascii")


class KeyRing:
    """The master keys known to this process, by key id: one current, any retired.

    The database stores, next to each wrapped data key, the ``key_id`` of the master
    key that wrapped it. Unwrapping looks the key up here; new data keys are wrapped
    with :attr:`current`. Rotation loads the new key as current and the old one as
    retired, re-wraps every data key (:func:`storage.vault.rewrap`) and records the new
    id; once no row names the old id, the old key can be destroyed.
    """

    def __init__(self, current: MasterKey, retired: Iterable[MasterKey] = ()) -> None:
        self._current = current
        self._keys: dict[str, MasterKey] = {current.key_id: current}
        for key in retired:
            self._keys.setdefault(key.key_id, key)

    @property
    def current(self) -> MasterKey:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every known key id, the current one first."""
        return tuple(self._keys)

    def get(self, key_id: str) -> MasterKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise MasterKeyError(
                f"no loaded master key has id {key_id!r}; load the key that wrapped this "
                f"data (loaded: {', '.join(self._keys)})"
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[MasterKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(current={self._current.key_id!r}, key_ids={self.key_ids!r})"


def decode_master_key(text: str, source: str) -> MasterKey:
    """Parse base64 (or 64 hex digits) of 32 bytes; ``source`` names where it came from.

    Errors say what is wrong with the value's shape, never the value itself, and are
    raised ``from None`` so no decoder exception carrying it is chained.
    """
    value = text.strip()
    raw: bytes | None
    if len(value) == 2 * MASTER_KEY_SIZE and all(c in "0123456789abcdefABCDEF" for c in value):
        raw = bytes.fromhex(value)
    else:
        try:
            raw = base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = None
    if raw is None:
        raise MasterKeyError(
            f"{source} is not base64 (or hex) text; expected the base64 of "
            f"{MASTER_KEY_SIZE} random bytes, e.g. from `openssl rand -base64 32`"
        )
    if len(raw) != MASTER_KEY_SIZE:
        raise MasterKeyError(
            f"{source} decodes to {len(raw)} bytes; a master key is exactly "
            f"{MASTER_KEY_SIZE} bytes (base64 of 32 random bytes)"
        )
    return MasterKey(raw)


def create_key_file(path: Path) -> MasterKey:
    """Generate a master key and write it to a new key file (storage/secret_files.py)."""
    key = MasterKey.generate()
    try:
        create_secret_file(Path(path), (key.to_text() + "\n").encode("ascii"), "key file")
    except SecretFileError as exc:
        raise KeyFileError(str(exc)) from None
    return key


def load_master_key(path: Path | None, env_value: str | None) -> MasterKey:
    """The master key from ``HAVEN_MASTER_KEY`` if set (non-empty), else from ``path``.

    An empty ``env_value`` counts as unset (``export HAVEN_MASTER_KEY=`` clears it), as
    in the configuration loader.
    """
    if env_value:
        return decode_master_key(env_value, "HAVEN_MASTER_KEY")
    if path is None:
        raise MasterKeyError(
            "no master key: set HAVEN_MASTER_KEY (base64 of 32 bytes) or configure a key file"
        )
    return _read_key_file(Path(path))


def _read_key_file(path: Path) -> MasterKey:
    try:
        content = read_secret_file(path, "key file", _MAX_KEY_FILE_BYTES)
    except SecretFileError as exc:
        raise KeyFileError(str(exc)) from None
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        raise KeyFileError(f"key file {path} is not base64 (or hex) text") from None
    try:
        return decode_master_key(text, f"key file {path}")
    except KeyFileError:
        raise
    except MasterKeyError as exc:
        raise KeyFileError(str(exc)) from None
