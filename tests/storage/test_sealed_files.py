"""One pass that seals a file and addresses its blob (storage/sealed_files.py): the same
bytes as the vault's own format, opened back by it, under the SHA-256 of what is stored."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from storage.blobs import BlobStore
from storage.sealed_files import CHUNK, seal_file, seal_file_into
from storage.vault import SEAL_OVERHEAD, VaultError, open_sealed

KEY = os.urandom(32)
SALT = os.urandom(32)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_a_sealed_file_opens_back_and_is_addressed_by_its_hash(size: int) -> None:
    content = os.urandom(size)
    sealed = seal_file(KEY, SALT, content, "4-2")
    assert len(sealed.sealed) == SEAL_OVERHEAD + len(SALT) + size
    assert sealed.address == hashlib.sha256(sealed.sealed).hexdigest()
    assert open_sealed(KEY, bytes(sealed.sealed), "4-2") == SALT + content


def test_a_sealed_file_is_bound_to_its_item() -> None:
    sealed = seal_file(KEY, SALT, b"a screenshot", "4-2")
    with pytest.raises(VaultError):
        open_sealed(KEY, bytes(sealed.sealed), "4-3")


def test_the_store_keeps_it_under_the_address_given_and_reads_it_back(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    sealed = seal_file(KEY, SALT, os.urandom(CHUNK * 2), "4-2")
    assert store.put(sealed.sealed, sealed.address) == sealed.address
    assert store.get(sealed.address) == bytes(sealed.sealed)


@pytest.mark.parametrize("size", [0, CHUNK + 1, 3 * CHUNK + 17])
def test_the_sink_is_given_every_sealed_byte_in_order(size: int) -> None:
    given = bytearray()
    content = os.urandom(size)
    address = seal_file_into(KEY, SALT, content, "4-2", given.extend)
    assert len(given) == SEAL_OVERHEAD + len(SALT) + size
    assert address == hashlib.sha256(given).hexdigest()
    assert open_sealed(KEY, bytes(given), "4-2") == SALT + content


def test_a_file_sealed_into_the_store_as_it_is_made_opens_back(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    content = os.urandom(CHUNK * 5 + 3)
    address = store.write(lambda sink: seal_file_into(KEY, SALT, content, "4-2", sink))
    assert open_sealed(KEY, store.get(address), "4-2") == SALT + content
