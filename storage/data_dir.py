"""The data directory: where the database, blobs, keys and logs of one deployment live."""

from __future__ import annotations

import os
from pathlib import Path

BLOB_DIR = "blobs"


class DataDirError(Exception):
    """The data directory cannot be used; the message says why in one line."""


def prepare_data_dir(path: Path) -> None:
    """Create the data directory if needed; refuse one Haven cannot write to."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirError(f"cannot create the data directory {path}: {exc.strerror}") from exc
    if not path.is_dir():
        raise DataDirError(f"the data directory {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(f"the data directory {path} is not writable")
