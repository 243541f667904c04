"""What SQLite itself is given: statements reach it through SQLAlchemy or, for the hot
ones, straight from storage/prepared.py, so SQLAlchemy's events would miss some."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.sqlite_connection import inline_sqlite


@contextlib.contextmanager
def tracing(conn: AsyncConnection) -> Iterator[list[str]]:
    """Every statement run on ``conn`` meanwhile, in order, its parameters filled in."""
    raw: sqlite3.Connection | None = inline_sqlite(conn)
    assert raw is not None, "a SQLite database"
    statements: list[str] = []
    raw.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        raw.set_trace_callback(None)


@contextlib.asynccontextmanager
async def traced(db: Database) -> AsyncIterator[list[str]]:
    """Every statement the database runs meanwhile, across its transactions."""
    async with db.transaction() as conn:
        pass  # the one connection every later transaction runs on
    with tracing(conn) as statements:
        yield statements


def queries(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]
