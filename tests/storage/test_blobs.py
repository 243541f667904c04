"""The content-addressed blob store (storage.blobs)."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from storage.blobs import (
    WRITEBACK_STEP,
    BlobError,
    BlobStore,
    Sink,
    blob_address,
    check_address,
)


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_get_round_trip(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(10_000)
    address = store.put(data)
    assert address == hashlib.sha256(data).hexdigest() == blob_address(data)
    path = store.path_of(address)
    assert path == tmp_path / "blobs" / address[:2] / address[2:4] / address
    assert path.read_bytes() == data
    assert store.get(address) == data
    assert store.exists(address)


def test_empty_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    address = store.put(b"")
    assert store.get(address) == b""


def test_put_is_idempotent(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"the same screenshot, forwarded twice"
    first = store.put(data)
    mtime = store.path_of(first).stat().st_mtime_ns
    inode = store.path_of(first).stat().st_ino
    second = store.put(data)
    assert first == second
    assert all_files(tmp_path / "blobs") == [store.path_of(first)]
    # The intact copy is left alone, not rewritten.
    assert store.path_of(first).stat().st_ino == inode
    assert store.path_of(first).stat().st_mtime_ns == mtime


def test_put_repairs_a_damaged_copy(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"x" * 1000
    address = store.put(data)
    path = store.path_of(address)
    path.write_bytes(b"y" * 1000)  # same size, wrong content
    with pytest.raises(BlobError):
        store.get(address)
    assert store.put(data) == address
    assert store.get(address) == data
    path.write_bytes(b"short")  # wrong size
    assert store.put(data) == address
    assert store.get(address) == data
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_distinct_blobs_have_distinct_addresses(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    addresses = {store.put(bytes([i]) * 10) for i in range(50)}
    assert len(addresses) == 50
    assert sorted(store.addresses()) == sorted(addresses)


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "empty"])
def test_corrupted_blob_is_detected(tmp_path: Path, damage: str) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(4096)
    address = store.put(data)
    path = store.path_of(address)
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[1234] ^= 0x01
    elif damage == "truncate":
        raw = raw[:-1]
    elif damage == "append":
        raw += b"\x00"
    else:
        raw = bytearray()
    path.write_bytes(bytes(raw))
    with pytest.raises(BlobError) as info:
        store.get(address)
    assert str(info.value) == f"blob {address} is corrupted"


def test_missing_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    address = "ab" * 32
    assert not store.exists(address)
    with pytest.raises(BlobError) as info:
        store.get(address)
    assert str(info.value) == f"blob {address} is missing"


def test_store_root_is_created_on_first_put(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "data" / "blobs")
    address = store.put(b"first")
    assert store.get(address) == b"first"
    assert stat.S_IMODE((tmp_path / "data" / "blobs").stat().st_mode) == 0o700


HOSTILE = [
    "../../etc/passwd",
    "/etc/passwd",
    "A" * 64,
    "AB" + "ab" * 31,
    "ab" * 31,  # 62 digits
    "ab" * 33,  # 66 digits
    "",
    "g" * 64,
    "ab/cd/" + "ab" * 29,
    "../" + "a" * 61,
    "ab" * 32 + "\n",
    " " + "ab" * 32,
    "ab" * 31 + "a\x00",
    "０" * 64,  # fullwidth digits
]


@pytest.mark.parametrize("address", HOSTILE)
def test_hostile_addresses_are_rejected(tmp_path: Path, address: str) -> None:
    store = BlobStore(tmp_path / "blobs")
    (tmp_path / "passwd").write_text("root:x:0:0")
    for operation in (store.get, store.exists, store.delete, store.path_of, check_address):
        with pytest.raises(BlobError, match="invalid blob address"):
            operation(address)
    assert not (tmp_path / "blobs").exists()


def test_non_string_address_is_rejected(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobError, match="invalid blob address"):
        store.get(b"ab" * 32)  # type: ignore[arg-type]


def test_long_hostile_address_is_shortened_in_the_message(tmp_path: Path) -> None:
    with pytest.raises(BlobError) as info:
        BlobStore(tmp_path).get("x" * 10_000)
    assert len(str(info.value)) < 200


def test_file_and_directory_modes(tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask must not loosen the store
    try:
        store = BlobStore(tmp_path / "blobs")
        address = store.put(b"private")
    finally:
        os.umask(old)
    path = store.path_of(address)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent, tmp_path / "blobs"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_no_temp_files_left_behind(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    store = BlobStore(root)
    addresses = [store.put(os.urandom(n)) for n in (0, 1, 1000, 100_000)]
    store.put(b"")  # idempotent put of an existing blob
    files = all_files(root)
    assert [p.name for p in files] == sorted(addresses, key=lambda a: str(store.path_of(a)))
    assert not any(p.name.startswith(".") for p in root.rglob("*"))


def test_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = BlobStore(tmp_path)
    # Make the directories first, so the failure hits the blob's own temp file.
    assert store.delete(store.put(b"doomed"))

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(BlobError, match=r"cannot store blob .*Input/output error"):
        store.put(b"doomed")
    monkeypatch.undo()
    assert all_files(tmp_path) == []
    assert not store.exists(blob_address(b"doomed"))


def test_stray_files_are_ignored_by_addresses(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    address = store.put(b"real")
    shard = store.path_of(address).parent
    (shard / ".tmp-leftover").write_bytes(b"partial")
    (shard / ("ff" * 32)).write_bytes(b"misplaced")  # wrong shard for its name
    (tmp_path / "README").write_text("not a blob")
    assert list(store.addresses()) == [address]
    assert list(BlobStore(tmp_path / "absent").addresses()) == []


def test_delete(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    address = store.put(b"shredded case leftovers")
    assert store.delete(address) is True
    assert not store.exists(address)
    assert store.delete(address) is False
    with pytest.raises(BlobError, match="missing"):
        store.get(address)


async def test_async_wrappers(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = os.urandom(2048)
    address = await store.aput(data)
    assert address == blob_address(data)
    assert await store.aget(address) == data
    assert await store.aexists(address)
    assert await store.adelete(address)
    with pytest.raises(BlobError, match="missing"):
        await store.aget(address)
    with pytest.raises(BlobError, match="invalid blob address"):
        await store.aget("../../etc/passwd")


def pieces_of(data: bytes, size: int) -> Callable[[Sink], str]:
    """A maker that gives ``data`` to the sink ``size`` bytes at a time."""

    def make(sink: Sink) -> str:
        with memoryview(data) as view:
            for start in range(0, len(view), size):
                with view[start : start + size] as piece:
                    sink(piece)
        return blob_address(data)

    return make


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * 1024 * 1024 + 5])
def test_a_blob_written_as_it_is_made_is_stored_under_its_address(
    tmp_path: Path, size: int
) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(size)
    address = store.write(pieces_of(data, 100_000))
    assert address == blob_address(data)
    assert store.get(address) == data
    assert stat.S_IMODE(store.path_of(address).stat().st_mode) == 0o600
    assert all_files(tmp_path) == [store.path_of(address)]
    assert list(store.addresses()) == [address]


def test_a_blob_written_as_it_is_made_is_handed_to_the_disk_as_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed: list[tuple[int, int]] = []
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, at, length, advice: handed.append((at, length))
    )
    data = os.urandom(3 * WRITEBACK_STEP + 10)
    BlobStore(tmp_path).write(pieces_of(data, 256 * 1024))
    assert [at for at, _ in handed] == [0, WRITEBACK_STEP, 2 * WRITEBACK_STEP]
    assert all(length == WRITEBACK_STEP for _, length in handed)


def test_a_blob_whose_making_fails_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)

    def make(sink: Sink) -> str:
        sink(memoryview(b"half of a sealed file"))
        raise ValueError("the sealing failed")

    with pytest.raises(ValueError, match="the sealing failed"):
        store.write(make)
    assert all_files(tmp_path) == []


def test_a_blob_made_under_an_invalid_address_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobError, match="invalid blob address"):
        store.write(lambda sink: "../../etc/passwd")
    assert all_files(tmp_path) == []


def test_a_blob_whose_disk_fails_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(BlobError, match="No space left on device"):
        store.write(pieces_of(b"a screenshot", 4))
    monkeypatch.undo()
    assert all_files(tmp_path) == []


@pytest.mark.parametrize("how", ["put", "write", "put again"])
def test_every_directory_on_a_blobs_way_is_synced_even_one_made_by_another_put(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A put that finds its directories made by a concurrent put, not yet synced, must
    sync them itself before it says the blob is durable."""
    root = tmp_path / "blobs"
    store = BlobStore(root)
    data = b"the second of two screenshots in one shard"
    address = blob_address(data)
    if how == "put again":
        store.put(data)  # a copy in place: its put may not have synced its directories
    else:
        store.path_of(address).parent.mkdir(parents=True)  # as another put left them
    synced: list[Path] = []
    real_fsync, real_open = os.fsync, os.open
    opened: dict[int, Path] = {}

    def recording_open(path: str | Path, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        opened[fd] = Path(path)
        return fd

    def recording_fsync(fd: int) -> None:
        synced.append(opened.get(fd, Path("<file>")))
        real_fsync(fd)

    monkeypatch.setattr(os, "open", recording_open)
    monkeypatch.setattr(os, "fsync", recording_fsync)
    if how == "write":
        store.write(pieces_of(data, 7))
    else:
        store.put(data)
    shard = store.path_of(address).parent
    assert {shard, shard.parent, root, tmp_path} <= set(synced)


def test_a_blob_written_when_a_crash_cut_it_short_is_a_leftover(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    address = store.put(b"kept")
    store.write(pieces_of(b"made", 2))  # makes the directory a crash leaves the file in
    stale = tmp_path / ".incoming" / ".tmp-crashed-mid-write"
    stale.write_bytes(b"part of a sealed file")
    os.utime(stale, (1_000_000, 1_000_000))
    assert store.leftovers({address, blob_address(b"made")}, before=2_000_000) == [stale]
    assert store.discard([stale]) == 1
    assert store.get(address) == b"kept"
