"""`haven backup` and `haven restore`: a SQLite deployment's data, signed, and back.

The backup itself is storage/backup.py; this side opens the store for the log key that
signs the manifest, checks the signature (and, with ``--key``, that it is the published
log key) before anything is restored, and says where the key files must be kept — they
are never in a backup.

With PostgreSQL the evidence, rows and log are all in the database: both commands refuse,
pointing to PostgreSQL's own tools (README, "Backups and restore").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.config import Config
from bot.evidence.bundle import key_fingerprint
from bot.evidence.keyfiles import LOG_KEY_FILE, master_key_path
from bot.evidence.store import OperatorError
from bot.evidence.verify import KeyFileError, load_key
from bot.ops.operator import open_store
from storage.backup import BackupError, Made, Restored, make_backup, read_manifest, restore_backup
from storage.dir_lock import LOCK_FILE

ON_POSTGRESQL = (
    "with PostgreSQL, back up the database with pg_dump (or pg_basebackup and WAL "
    "archiving) and keep the key files apart; `haven backup` is for SQLite (README, "
    '"Backups and restore")'
)
_SHOWN_EVERY_SECONDS = 1.0


class Counter:
    """Progress of a long copy on standard error: "backup: 120/500 files", redrawn in
    place on a terminal, a line a second otherwise; silent for short runs."""

    def __init__(
        self,
        what: str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._what = what
        self._stream = stream or sys.stderr
        self._clock = clock
        self._shown_at = clock()
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if done < total and now - self._shown_at < _SHOWN_EVERY_SECONDS:
            return
        if done == total and not self._drawn:
            return
        self._shown_at = now
        self._drawn = True
        line = f"{self._what}: {done}/{total} files"
        if self._stream.isatty():
            end = "\n" if done == total else ""
            print(f"\r{line}", end=end, file=self._stream, flush=True)
        else:
            print(line, file=self._stream, flush=True)


async def backup(config: Config, out: Path) -> Made:
    sqlite_only(config)
    database = sqlite_path(config)
    if not database.is_file():
        raise OperatorError(f"there is no Haven database at {database} to back up")
    async with open_store(config) as store:
        key = store.log_key
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        try:
            return make_backup(
                database,
                config.data_dir,
                out,
                public_key=public,
                sign=key.sign,
                now=store.clock.now(),
                progress=Counter("backup"),
            )
        except BackupError as exc:
            raise OperatorError(str(exc)) from None


def restore(config: Config, archive: Path, key_file: Path | None) -> Restored:
    """Restore ``archive`` into the configured data directory, which must be empty."""
    sqlite_only(config)
    try:
        manifest, raw, signature = read_manifest(archive)
        public = _signed_by(manifest, raw, signature)
        if key_file is not None:
            _pinned(public, key_file)
        return restore_backup(
            archive, manifest, sqlite_path(config), config.data_dir, Counter("restore")
        )
    except BackupError as exc:
        raise OperatorError(f"{archive}: {exc}; nothing was restored") from None


def keys_note(config: Config) -> str:
    """Where the keys a backup lacks live, and why apart from it."""
    master = "HAVEN_MASTER_KEY" if config.secrets.master_key else str(master_key_path(config))
    return (
        f"The key files are not in the backup: keep {master} and "
        f"{config.data_dir / LOG_KEY_FILE} safe, apart from the backups (without the "
        "master key no evidence can be read; a stolen backup without it is ciphertext)."
    )


def fingerprint(public: bytes) -> str:
    return key_fingerprint(public).hex()


def sqlite_path(config: Config) -> Path:
    return Path(config.database_url.removeprefix("sqlite+aiosqlite:///"))


def empty_or_missing(directory: Path) -> None:
    """Refuse a data directory that holds anything (but the lock of a restore refused)."""
    if directory.exists() and (
        not directory.is_dir() or any(p.name != LOCK_FILE for p in directory.iterdir())
    ):
        raise OperatorError(
            f"{directory} is not an empty directory; restore into a new or empty one"
        )


def sqlite_only(config: Config) -> None:
    if not config.database_url.startswith("sqlite"):
        raise OperatorError(ON_POSTGRESQL)


def _signed_by(manifest: dict[str, object], raw: bytes, signature: bytes) -> bytes:
    try:
        public = bytes.fromhex(str(manifest.get("public_key", "")))
        Ed25519PublicKey.from_public_bytes(public).verify(signature, raw)
    except (ValueError, InvalidSignature):
        raise BackupError("the manifest's signature does not check (changed?)") from None
    return public


def _pinned(public: bytes, key_file: Path) -> None:
    try:
        trusted = load_key(key_file)
    except KeyFileError as exc:
        raise BackupError(str(exc)) from None
    raw = (
        trusted.public_bytes(Encoding.Raw, PublicFormat.Raw)
        if isinstance(trusted, Ed25519PublicKey)
        else trusted.public_key
    )
    if raw != public:
        raise BackupError(
            f"the backup was signed by the key {fingerprint(public)[:16]}…, not by {key_file}"
        )
