"""Reaching under a blob store the way damage would: the stored bytes read, changed or
lost, whichever store the test's backend uses (files for SQLite, rows for PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from storage.blob_chunks import DatabaseBlobStore
from storage.blobs import Blobs, BlobStore
from storage.schema import blob_chunks, blob_heads


async def stored_bytes(blobs: Blobs, address: str) -> bytes:
    """What is stored, read past the store's own checks."""
    if isinstance(blobs, BlobStore):
        return blobs.path_of(address).read_bytes()
    assert isinstance(blobs, DatabaseBlobStore)
    query = select(blob_chunks.c.data).where(blob_chunks.c.address == address)
    async with blobs.db.transaction() as conn:
        return b"".join(bytes(data) for (data,) in await conn.execute(query.order_by("seq")))


async def flip_last_bit(blobs: Blobs, address: str) -> None:
    if isinstance(blobs, BlobStore):
        path = blobs.path_of(address)
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
        return
    assert isinstance(blobs, DatabaseBlobStore)
    last = (
        select(blob_chunks.c.seq, blob_chunks.c.data)
        .where(blob_chunks.c.address == address)
        .order_by(blob_chunks.c.seq.desc())
        .limit(1)
    )
    async with blobs.db.transaction() as conn:
        seq, data = (await conn.execute(last)).one()
        changed = bytearray(data)
        changed[-1] ^= 1
        await conn.execute(
            update(blob_chunks)
            .where(blob_chunks.c.address == address, blob_chunks.c.seq == seq)
            .values(data=bytes(changed))
        )


async def lose(blobs: Blobs, address: str) -> None:
    """The blob gone (its file deleted; its rows deleted)."""
    if isinstance(blobs, BlobStore):
        blobs.path_of(address).unlink()
        return
    assert isinstance(blobs, DatabaseBlobStore)
    async with blobs.db.transaction() as conn:
        await conn.execute(delete(blob_chunks).where(blob_chunks.c.address == address))
        await conn.execute(delete(blob_heads).where(blob_heads.c.address == address))


async def count(blobs: Blobs) -> int:
    if isinstance(blobs, BlobStore):
        return len(list(blobs.addresses()))
    assert isinstance(blobs, DatabaseBlobStore)
    return len(await blobs.addresses())
