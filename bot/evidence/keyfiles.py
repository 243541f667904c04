"""Where the evidence keys come from at start-up, and when Haven may create them.

Two keys live outside the database:

- the master key (storage/keys.py), from HAVEN_MASTER_KEY or ``[storage]
  master_key_file`` (default ``DATA_DIR/master.key``);
- the log's Ed25519 signing key (storage/log_key.py), ``DATA_DIR/log-signing.key``.

So that the embedded default needs nothing set up, a missing key file is created on the
first start — but only while nothing depends on it yet. Once a case key is wrapped by
the master key, or the log key's public half is published or a tree head signed by it,
a missing file means a lost or misplaced key, and inventing a new one would silently
orphan the evidence: Haven refuses to start and says which file to restore. A key file
that is there but is not the key the store depends on (another valid master key, another
signing key) is refused the same way, in one line, before anything uses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from bot.config import Config
from storage import case_keys, ledger
from storage.data_dir import write_public_file
from storage.database import Database
from storage.keys import KeyRing, MasterKeyError, create_key_file, load_master_key
from storage.log_key import LogKeyError, create_log_key, load_log_key
from storage.merkle import verify_tree_head
from storage.signed_note import NoteVerifier, verifier_of

MASTER_KEY_FILE = "master.key"
LOG_KEY_FILE = "log-signing.key"
PUBLIC_KEY_FILE = "log-public-key.pem"
VKEY_FILE = "log-public-key.vkey"
SQLITE_FILE = "haven.db"
DEFAULT_ORIGIN_PREFIX = "haven/"


class KeySetupError(Exception):
    """A key cannot be had. One line, naming the file; never key material."""


def master_key_path(config: Config) -> Path:
    configured = config.storage.master_key_file
    return Path(configured) if configured else config.data_dir / MASTER_KEY_FILE


def pending_master_key_path(config: Config) -> Path:
    """The next master key while a rotation (bot/evidence/rotation.py) is under way."""
    path = master_key_path(config)
    return path.with_name(path.name + ".next")


def log_key_path(config: Config) -> Path:
    return config.data_dir / LOG_KEY_FILE


def holds_haven_data(config: Config) -> bool:
    """Haven has been set up in the data directory: the first start (or `haven init`)
    writes the log signing key there, and on SQLite the database too."""
    if log_key_path(config).is_file():
        return True
    url = config.database_url
    return url.startswith("sqlite") and (config.data_dir / SQLITE_FILE).is_file()


async def open_keyring(config: Config, db: Database) -> KeyRing:
    """The master key ring: from the environment, the key file, or a new key file.

    While an interrupted rotation's next key file exists, it is loaded too, so every data
    key reads whichever of the two master keys wraps it.
    """
    env_value = config.secrets.master_key
    path = master_key_path(config)
    pending = pending_master_key_path(config)
    try:
        if env_value or path.exists():
            current = load_master_key(path, env_value)
            if not env_value and pending.exists():
                ring = KeyRing(current, [load_master_key(pending, None)])
            else:
                ring = KeyRing(current)
            await _check_master_key(db, ring, "HAVEN_MASTER_KEY" if env_value else str(path))
            return ring
        async with db.transaction() as conn:
            in_use = await case_keys.any_stored(conn)
        if in_use:
            raise KeySetupError(
                f"the master key file {path} is missing, and stored evidence needs it; "
                "restore the file (or set HAVEN_MASTER_KEY) — a new key could not read it"
            )
        return KeyRing(create_key_file(path))
    except MasterKeyError as exc:
        raise KeySetupError(str(exc)) from None


async def _check_master_key(db: Database, ring: KeyRing, source: str) -> None:
    """Refuse a master key that wraps none of the stored case keys it should: a valid
    key, but not this store's, would let Haven start and then fail every forward."""
    async with db.transaction() as conn:
        wrapping = await case_keys.wrapping_key_ids(conn)
    strangers = sorted(wrapping - set(ring.key_ids))
    if strangers:
        raise KeySetupError(
            f"the master key from {source} (id {ring.current.key_id}) is not the one that "
            f"wraps the stored evidence (id {', '.join(strangers)}); restore that key file "
            "(or HAVEN_MASTER_KEY) — with this one no evidence can be kept or read"
        )


async def open_log_key(config: Config, db: Database) -> Ed25519PrivateKey:
    """The log's signing key: the key file, or a new one while nothing depends on it.

    Something depends on it once its public key was published (``log-public-key.pem``
    beside it, written by ``haven init`` and at the first start), or once a tree head is
    signed (every bundle carries one). An existing key file must be the key of both.
    """
    path = log_key_path(config)
    published = config.data_dir / PUBLIC_KEY_FILE
    try:
        async with db.transaction() as conn:
            signed = await ledger.latest_head(conn)
            # With PostgreSQL other instances may be appending under their copy of the key:
            # a log with any leaf needs that copy, not a new key.
            shared_log = db.is_postgresql and await ledger.tree_size(conn) > 0
        if path.exists():
            key = load_log_key(path)
            _check_log_key(key, path, published, signed)
            return key
        if signed is not None or shared_log or published.exists():
            raise KeySetupError(
                f"the log signing key {path} is missing, and the log already needs it "
                f"(its public key is published in {published.name}, or tree heads are "
                "signed, or other instances write to it); restore the file from your "
                "backup, or copy it from another instance — a new key would not match"
            )
        return create_log_key(path)
    except LogKeyError as exc:
        raise KeySetupError(str(exc)) from None


def _check_log_key(
    key: Ed25519PrivateKey, path: Path, published: Path, signed: ledger.SignedHead | None
) -> None:
    """The key file must be the key published beside it and the one that signed the
    latest tree head: another key would sign heads nobody can check with the pinned one."""
    public = key.public_key()
    if published.exists() and not _publishes(published, public):
        raise KeySetupError(
            f"the log signing key {path} is not the key published in {published}; restore "
            "the original key file (bundles are checked against the published key)"
        )
    if signed is not None and not verify_tree_head(signed.head, signed.signature, public):
        raise KeySetupError(
            f"the log signing key {path} did not sign the log's latest tree head; restore "
            "the original key file (a new key would not match the heads already signed)"
        )


def _publishes(published: Path, public: Ed25519PublicKey) -> bool:
    """Whether the PEM file holds ``public`` (the same key, however the file is laid out)."""
    try:
        held = load_pem_public_key(published.read_bytes())
    except (OSError, ValueError, UnsupportedAlgorithm):
        return False
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return (
        isinstance(held, Ed25519PublicKey)
        and held.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw
    )


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def log_origin(config: Config, key: Ed25519PrivateKey) -> str:
    """The log's name in its checkpoints: ``[evidence] log_origin``, or one derived from
    the key, so that two deployments never share a name by default."""
    if config.evidence.log_origin:
        return config.evidence.log_origin
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return DEFAULT_ORIGIN_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def log_verifier(config: Config, key: Ed25519PrivateKey) -> NoteVerifier:
    """The log's public key as signed notes name it (its vkey)."""
    return verifier_of(log_origin(config, key), key)


def publish_public_key(config: Config, key: Ed25519PrivateKey) -> Path:
    """Write the log's public key for handing out (``haven verify --key``): as PEM, and
    beside it as a signed-note verifier key (``log-public-key.vkey``). ``haven init``
    and every start of ``haven run`` call it, so a data dir made either way has them."""
    path = config.data_dir / PUBLIC_KEY_FILE
    write_public_file(path, _public_pem(key))
    vkey = log_verifier(config, key).vkey() + "\n"
    write_public_file(config.data_dir / VKEY_FILE, vkey.encode())
    return path
