"""What the evidence operations (export, erase, hold, rotate, retention) work on.

A `Store` is the database, the blob store and both keys, without adapters: the running
bot builds one from its parts (bot/runtime.py) and the operator commands open one from
the config (bot/ops/operator.py). Every operation on it is a custody event naming an actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.clock import Clock
from bot.config import Config
from storage.blob_chunks import DatabaseBlobStore
from storage.blobs import Blobs, BlobStore
from storage.data_dir import BLOB_DIR
from storage.database import Database
from storage.keys import KeyRing

# The actor that custody events of the operator commands name.
OPERATOR = "operator"


class OperatorError(Exception):
    """An evidence operation cannot be carried out. One line; never key material."""


@dataclass(frozen=True)
class Store:
    config: Config
    db: Database
    blobs: Blobs
    keyring: KeyRing
    log_key: Ed25519PrivateKey
    clock: Clock


def blob_store(db: Database, data_dir: Path) -> Blobs:
    """Where sealed files go: files under the data directory with SQLite; the database
    itself with PostgreSQL, which is all that several instances share."""
    if db.is_postgresql:
        return DatabaseBlobStore(db)
    return BlobStore(data_dir / BLOB_DIR)
