"""What every blob store promises (storage/blobs.py ``Blobs``), on the store each backend
uses: files beside SQLite, rows in PostgreSQL."""

from __future__ import annotations

import os
import time

import pytest

from adapters.memory import MemoryAdapter
from bot.runtime import Haven
from storage.blobs import BlobError, Sink, blob_address
from tests.blob_access import stored_bytes


async def test_a_blob_written_as_it_is_made_reads_back(haven: tuple[Haven, MemoryAdapter]) -> None:
    blobs = haven[0].blobs
    data = os.urandom(600_000)

    def make(sink: Sink) -> str:
        with memoryview(data) as view:
            for start in range(0, len(view), 70_000):
                with view[start : start + 70_000] as piece:
                    sink(piece)
        return blob_address(data)

    address = await blobs.awrite(make)
    assert address == blob_address(data)
    assert await blobs.aget(address) == data
    assert await stored_bytes(blobs, address) == data


async def test_a_blob_whose_making_fails_is_not_kept(haven: tuple[Haven, MemoryAdapter]) -> None:
    blobs = haven[0].blobs
    data = b"the first half of a sealed screenshot"

    def make(sink: Sink) -> str:
        sink(memoryview(data))
        raise ValueError("the sealing failed")

    with pytest.raises(ValueError, match="the sealing failed"):
        await blobs.awrite(make)
    assert not await blobs.aexists(blob_address(data))
    assert await blobs.aleftovers(set(), before=time.time() + 60) == []


async def test_a_blob_under_an_invalid_address_is_refused(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    with pytest.raises(BlobError, match="invalid blob address"):
        await haven[0].blobs.awrite(lambda sink: "not-an-address")
