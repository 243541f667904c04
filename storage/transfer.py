"""Copying a SQLite deployment's database and blob files into an empty PostgreSQL one.

`haven migrate --to postgresql+asyncpg://…` (bot/ops/migrate.py) runs this while Haven
is stopped. Every row of every table is copied as it is, ids included, table by table
in foreign-key order, and every blob file becomes rows of the PostgreSQL blob store
(storage/blob_chunks.py) — all in one PostgreSQL transaction: a copy that fails half-way
leaves the target as empty as it was, and can simply be run again. The sequences behind
the copied ids are then moved past them. Key files are not copied: they stay files,
beside each instance (README, "Running on PostgreSQL with several instances").

A target that holds anything is refused: the copy never merges two histories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Integer, Table, func, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.blob_chunks import DatabaseBlobStore
from storage.blobs import BlobStore
from storage.database import Database
from storage.schema import blob_chunks, blob_heads, evidence_items, metadata

BATCH = 1000
_NOT_COPIED = {blob_heads.name, blob_chunks.name}  # the target's blob store, filled from files

Progress = Callable[[str], None]


class TargetNotEmpty(Exception):
    """The target database already holds tables or rows; nothing was written."""


@dataclass(frozen=True)
class Copied:
    rows: dict[str, int]
    blobs: int
    blob_bytes: int


async def copy_deployment(
    source: Database, files: BlobStore, target: Database, progress: Progress
) -> Copied:
    """Copy ``source`` (SQLite) and its blob ``files`` into ``target`` (PostgreSQL)."""
    await _refuse_unless_empty(target)
    await source.migrate()
    await target.migrate()
    counts: dict[str, int] = {}
    blobs = DatabaseBlobStore(target)
    async with source.transaction() as reading, target.transaction() as writing:
        for table in metadata.sorted_tables:
            if table.name in _NOT_COPIED:
                continue
            counts[table.name] = await _copy_table(reading, writing, table, progress)
        copied, size = await _copy_blobs(reading, writing, files, blobs, progress)
        await _move_sequences(writing)
    return Copied(counts, copied, size)


async def _refuse_unless_empty(target: Database) -> None:
    async with target.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        for name in names:
            if name == "alembic_version":
                continue
            count = (await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one()
            if name not in metadata.tables or count:
                raise TargetNotEmpty(
                    f"the target database is not empty (table {name}"
                    f"{'' if name not in metadata.tables else f' holds {count} row(s)'}); "
                    "migrate only into a new, empty database"
                )


async def _copy_table(
    reading: AsyncConnection, writing: AsyncConnection, table: Table, progress: Progress
) -> int:
    total = (await reading.execute(select(func.count()).select_from(table))).scalar_one()
    copied = 0
    order = list(table.primary_key.columns) or list(table.columns)
    result = await reading.stream(select(table).order_by(*order))
    async for rows in result.mappings().partitions(BATCH):
        await writing.execute(insert(table), [dict(row) for row in rows])
        copied += len(rows)
        progress(f"{table.name}: {copied:,} of {total:,} row(s)")
    if not total:
        progress(f"{table.name}: empty")
    return copied


async def _copy_blobs(
    reading: AsyncConnection,
    writing: AsyncConnection,
    files: BlobStore,
    blobs: DatabaseBlobStore,
    progress: Progress,
) -> tuple[int, int]:
    query = (
        select(evidence_items.c.blob)
        .where(evidence_items.c.blob.is_not(None))
        .distinct()
        .order_by(evidence_items.c.blob)
    )
    addresses = [str(address) for (address,) in await reading.execute(query)]
    size = 0
    for number, address in enumerate(addresses, start=1):
        data = await files.aget(address)  # verified against its address on the way
        await blobs.put_in(writing, data)
        size += len(data)
        progress(f"blobs: {number:,} of {len(addresses):,} ({size / 1e6:,.1f} MB)")
    if not addresses:
        progress("blobs: none")
    return len(addresses), size


async def _move_sequences(writing: AsyncConnection) -> None:
    """Ids were copied as they were: each table's sequence goes on after the last."""
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if len(key) != 1 or not isinstance(key[0].type, Integer) or not key[0].autoincrement:
            continue
        if table.name in _NOT_COPIED:
            continue
        column = key[0].name
        await writing.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "
                f'coalesce(max("{column}"), 0) + 1, false) FROM "{table.name}"'
            )
        )
