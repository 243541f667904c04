"""What SQLite itself is given: statements reach it through SQLAlchemy or, for the hot
ones, straight from storage/prepared.py, so SQLAlchemy's events would miss some."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator

from storage.database import Database
from storage.sqlite_connection import inline_sqlite


@contextlib.asynccontextmanager
async def traced(db: Database) -> AsyncIterator[list[str]]:
    """Every statement the database runs meanwhile, in order, its parameters filled in."""
    async with db.transaction() as conn:
        raw: sqlite3.Connection | None = inline_sqlite(conn)
    assert raw is not None, "a SQLite database"
    statements: list[str] = []
    raw.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        raw.set_trace_callback(None)
