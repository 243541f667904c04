"""What the database itself is given. On SQLite statements reach it through SQLAlchemy
or, for the hot ones, straight from storage/prepared.py, so SQLAlchemy's events would miss
some: SQLite's own trace is read. On PostgreSQL every statement goes through SQLAlchemy,
whose events see each one (an executemany once per set of parameters, as SQLite's trace
shows it)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database
from storage.sqlite_connection import inline_sqlite


@contextlib.contextmanager
def tracing(conn: AsyncConnection) -> Iterator[list[str]]:
    """Every statement run on ``conn`` meanwhile, in order, its parameters filled in."""
    raw: sqlite3.Connection | None = inline_sqlite(conn)
    if raw is None:
        with _through_sqlalchemy(conn.sync_connection) as statements:
            yield statements
        return
    statements: list[str] = []
    raw.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        raw.set_trace_callback(None)


@contextlib.asynccontextmanager
async def traced(db: Database) -> AsyncIterator[list[str]]:
    """Every statement the database runs meanwhile, across its transactions."""
    if not db.is_sqlite:
        with _through_sqlalchemy(db.engine.sync_engine) as statements:
            yield statements
        return
    async with db.transaction() as conn:
        pass  # the one connection every later transaction runs on
    with tracing(conn) as statements:
        yield statements


@contextlib.contextmanager
def _through_sqlalchemy(target: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def seen(*args: Any) -> None:
        _conn, _cursor, statement, parameters, _context, many = args
        statements.extend([statement] * (len(parameters) if many else 1))

    event.listen(target, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(target, "before_cursor_execute", seen)


def queries(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("SELECT")]
