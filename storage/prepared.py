"""The statements every victim message runs, compiled once and run straight on SQLite.

Through SQLAlchemy's asyncio layer one statement costs about 100 microseconds here (a
greenlet per call, a switch per cursor call, the execution context) against about 2 for
sqlite3 itself, and a victim's message runs about ten. So the hot statements are still
written with SQLAlchemy Core and compiled by it — the same SQL, the same bind and result
processing (``UtcDateTime`` included) — but on SQLite they are executed directly on the
sqlite3 connection under the transaction. That is safe because statements already run on
the event loop's thread there (storage/sqlite_connection.py) and ``Database`` lets one
transaction run at a time. Other engines run them through SQLAlchemy as usual, so both
paths give the same plain tuples back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable
from sqlalchemy.types import TypeEngine

from storage.sqlite_connection import inline_sqlite, sqlalchemy_error

Params = Mapping[str, Any]
Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # Each parameter in order, with its bind processor (None: the value goes as it is).
    binds: tuple[tuple[str, Processor], ...]
    # Values written into the statement itself (``state == "pending"``), by bind name.
    fixed: Mapping[str, Any]

    def values(self, params: Params) -> list[Any]:
        # A list comprehension with the test inline: this runs for every value of every
        # hot statement, about ninety per victim message.
        if self.fixed:
            params = {**self.fixed, **params}
        return [params[name] if bind is None else bind(params[name]) for name, bind in self.binds]


class Prepared:
    """One SELECT, INSERT, UPDATE or DELETE. It is compiled per set of parameter names,
    as SQLAlchemy does: an UPDATE sets only the columns it is given."""

    def __init__(self, statement: Executable) -> None:
        assert isinstance(statement, ClauseElement)
        self.statement: Executable = statement
        self._element: ClauseElement = statement
        self._compiled: dict[frozenset[str], _Compiled] = {}
        self._results: tuple[Processor, ...] | None = None
        self._names: tuple[str, ...] | None = None

    async def rows(self, conn: AsyncConnection, params: Params) -> list[tuple[Any, ...]]:
        """The rows a SELECT finds, as tuples in its column order."""
        raw = inline_sqlite(conn)
        if raw is None:
            return [tuple(row) for row in await conn.execute(self.statement, params)]
        compiled = self._compile(conn.dialect, params)
        found = _on_sqlite(raw.execute, compiled.sql, compiled.values(params))
        processors = self._result_processors(conn.dialect)
        if not any(processors):
            return found.fetchall()
        return [_processed(row, processors) for row in found.fetchall()]

    async def mappings(self, conn: AsyncConnection, params: Params) -> list[dict[str, Any]]:
        """The rows a SELECT finds, each keyed by its column names."""
        names = self._column_names()
        return [dict(zip(names, row, strict=True)) for row in await self.rows(conn, params)]

    async def run(self, conn: AsyncConnection, params: Params) -> None:
        """Execute an INSERT, UPDATE or DELETE once."""
        raw = inline_sqlite(conn)
        if raw is None:
            await conn.execute(self.statement, params)
            return
        compiled = self._compile(conn.dialect, params)
        _on_sqlite(raw.execute, compiled.sql, compiled.values(params))

    async def insert(self, conn: AsyncConnection, params: Params) -> int:
        """Execute an INSERT once; return the new row's id."""
        raw = inline_sqlite(conn)
        if raw is None:
            result = await conn.execute(self.statement, params)
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        compiled = self._compile(conn.dialect, params)
        row_id = _on_sqlite(raw.execute, compiled.sql, compiled.values(params)).lastrowid
        assert row_id is not None
        return row_id

    async def run_many(self, conn: AsyncConnection, many: Sequence[Params]) -> None:
        """Execute once per parameter set; every set names the same parameters."""
        if not many:
            return
        raw = inline_sqlite(conn)
        if raw is None:
            await conn.execute(self.statement, list(many))
            return
        compiled = self._compile(conn.dialect, many[0])
        _on_sqlite(raw.executemany, compiled.sql, [compiled.values(params) for params in many])

    def _compile(self, dialect: Dialect, params: Params) -> _Compiled:
        names = frozenset(params)
        found = self._compiled.get(names)
        if found is None:
            compiled = self._element.compile(dialect=dialect, column_keys=sorted(names))
            assert isinstance(compiled, SQLCompiler)
            order = tuple(compiled.positiontup or ())
            params_named = [compiled.binds[name] for name in order]
            assert not any(b.expanding for b in params_named), "IN lists vary: not prepared"
            binds = tuple(
                (name, _bind_processor(bind.type, dialect))
                for name, bind in zip(order, params_named, strict=True)
            )
            fixed = {
                name: bind.effective_value
                for name, bind in zip(order, params_named, strict=True)
                if name not in names
            }
            found = self._compiled[names] = _Compiled(str(compiled), binds, fixed)
        return found

    def _result_processors(self, dialect: Dialect) -> tuple[Processor, ...]:
        if self._results is None:
            self._results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self._select().selected_columns
            )
        return self._results

    def _column_names(self) -> tuple[str, ...]:
        if self._names is None:
            self._names = tuple(self._select().selected_columns.keys())
        return self._names

    def _select(self) -> Select[Any]:
        assert isinstance(self.statement, Select), "rows are for SELECT statements"
        return self.statement


def _on_sqlite(
    execute: Callable[[str, Any], sqlite3.Cursor], sql: str, values: Any
) -> sqlite3.Cursor:
    """Run on sqlite3, failing as SQLAlchemy would (see sqlalchemy_error)."""
    try:
        return execute(sql, values)
    except sqlite3.Error as exc:
        raise sqlalchemy_error(sql, exc) from exc


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor:
    # The dialect's own form of the type: SQLite's DATETIME is what writes a string.
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _processed(row: Iterable[Any], processors: tuple[Processor, ...]) -> tuple[Any, ...]:
    return tuple(
        value if process is None else process(value)
        for value, process in zip(row, processors, strict=True)
    )
