"""Sealed evidence in the database, for deployments on PostgreSQL.

Several Haven instances on different hosts share nothing but PostgreSQL, so the blobs
live there too: a blob is its bytes cut into chunks of ``CHUNK`` bytes (table
``blob_chunks``, one row per chunk) and a head row (``blob_heads``) written after the
last chunk. Both are written with the item's connection, in the item's transaction: the
item and its blob commit together or not at all, so there are no orphan blobs to sweep
up after a crash, and no fsync of a file to wait for outside the transaction.

Streamed both ways: a write sends ``CHUNKS_PER_STATEMENT`` chunks per statement and a
read fetches as many per query, so neither the driver nor the server ever holds a whole
large file as one value. Every read is checked against the address (the SHA-256 of the
stored bytes), as the file store does: a changed byte is reported, never returned.

The same interface as the file store (storage/blobs.py :class:`Blobs`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.blobs import BlobError, Sink, blob_address, check_address
from storage.database import Database
from storage.schema import blob_chunks, blob_heads, evidence_items

CHUNK = 256 * 1024
CHUNKS_PER_STATEMENT = 8

_CHUNKS = (
    select(blob_chunks.c.seq, blob_chunks.c.data)
    .where(
        blob_chunks.c.address == bindparam("address"),
        blob_chunks.c.seq >= bindparam("first"),
        blob_chunks.c.seq < bindparam("end"),
    )
    .order_by(blob_chunks.c.seq)
)


class DatabaseBlobStore:
    """Blobs as rows of the database ``db`` (PostgreSQL)."""

    in_transaction = True

    def __init__(self, db: Database) -> None:
        self.db = db

    def __repr__(self) -> str:
        return "DatabaseBlobStore()"

    async def put_in(
        self, conn: AsyncConnection, data: bytes | bytearray, address: str | None = None
    ) -> str:
        address = address or blob_address(data)
        if await _head(conn, address) is not None:
            return address  # the same bytes are stored already
        chunks = 0
        with memoryview(data) as view:
            for start in range(0, max(len(view), 1), CHUNK * CHUNKS_PER_STATEMENT):
                end = min(len(view), start + CHUNK * CHUNKS_PER_STATEMENT)
                rows = [
                    # A view, not a copy: asyncpg sends any buffer as bytea.
                    {"address": address, "seq": chunks + n, "data": view[at : at + CHUNK]}
                    for n, at in enumerate(range(start, max(end, start + 1), CHUNK))
                ]
                await conn.execute(insert(blob_chunks), rows)
                chunks += len(rows)
        await conn.execute(
            insert(blob_heads).values(
                address=address, size=len(data), chunks=chunks, created_at=datetime.now(UTC)
            )
        )
        return address

    async def aput(self, data: bytes | bytearray, address: str | None = None) -> str:
        async with self.db.transaction() as conn:
            return await self.put_in(conn, data, address)

    async def awrite(self, make: Callable[[Sink], str]) -> str:
        """Gathered, then stored as :meth:`aput` stores it: a transaction's rows are
        not written while the bytes are still being made."""
        gathered = bytearray()
        address = await asyncio.to_thread(make, gathered.extend)
        return await self.aput(gathered, check_address(address))

    async def aget(self, address: str) -> bytes:
        whole = bytearray()
        async for piece in self.stream(address):
            whole += piece
        return bytes(whole)

    async def stream(self, address: str) -> AsyncIterator[bytes]:
        check_address(address)
        async with self.db.transaction() as conn:
            head = await _head(conn, address)
        if head is None:
            raise BlobError(f"blob {address} is missing")
        size, chunks = head
        digest = hashlib.sha256()
        seen = 0
        for first in range(0, chunks, CHUNKS_PER_STATEMENT):
            end = min(chunks, first + CHUNKS_PER_STATEMENT)
            async with self.db.transaction() as conn:
                found = await conn.execute(
                    _CHUNKS, {"address": address, "first": first, "end": end}
                )
                rows = found.all()
            if [seq for seq, _ in rows] != list(range(first, end)):
                raise BlobError(f"blob {address} is corrupted (chunks missing)")
            for _, data in rows:
                piece = bytes(data)
                digest.update(piece)
                seen += len(piece)
                yield piece
        if seen != size or digest.hexdigest() != address:
            raise BlobError(f"blob {address} is corrupted")

    async def aexists(self, address: str) -> bool:
        check_address(address)
        async with self.db.transaction() as conn:
            return await _head(conn, address) is not None

    async def adelete(self, address: str) -> bool:
        check_address(address)
        async with self.db.transaction() as conn:
            await conn.execute(delete(blob_chunks).where(blob_chunks.c.address == address))
            gone = await conn.execute(delete(blob_heads).where(blob_heads.c.address == address))
        return bool(gone.rowcount)

    async def addresses(self) -> list[str]:
        """Every stored blob's address, in order."""
        async with self.db.transaction() as conn:
            found = await conn.execute(select(blob_heads.c.address).order_by(blob_heads.c.address))
            return [str(address) for (address,) in found]

    async def aleftovers(self, named: Collection[str], before: float) -> list[str]:
        """Blobs no item names. Written in their item's transaction, so a crash leaves
        none: what is left is what a migration copied for an item erased since, say."""
        cutoff = datetime.fromtimestamp(before, UTC)
        used = select(evidence_items.c.blob).where(evidence_items.c.blob.is_not(None))
        query = select(blob_heads.c.address).where(
            blob_heads.c.address.not_in(used), blob_heads.c.created_at < cutoff
        )
        async with self.db.transaction() as conn:
            found = [str(address) for (address,) in await conn.execute(query)]
        return [address for address in found if address not in named]

    async def adiscard(self, leftovers: Iterable[str]) -> int:
        removed = 0
        for address in leftovers:
            removed += await self.adelete(address)
        return removed


async def _head(conn: AsyncConnection, address: str) -> tuple[int, int] | None:
    found = await conn.execute(
        select(blob_heads.c.size, blob_heads.c.chunks).where(blob_heads.c.address == address)
    )
    row = found.first()
    return None if row is None else (int(row.size), int(row.chunks))
