"""Child rows carried inside their parent's row, as one JSON array of arrays.

A case is a row with its answers and its checklist beside it. Read as three statements,
that is three round trips to PostgreSQL on every victim message; with the children
gathered by a correlated subquery in the parent's SELECT it is one. Both engines can
gather rows into JSON, under different names: ``json_agg`` and ``json_build_array`` on
PostgreSQL, ``json_group_array`` and ``json_array`` on SQLite.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Text


class json_rows(FunctionElement[str]):
    """An aggregate: the rows it runs over, each as a JSON array of the given columns.
    Read it back with :func:`parsed`."""

    type = Text()
    name = "json_rows"
    inherit_cache = True


@compiles(json_rows, "postgresql")
def _on_postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    # As text: the driver would otherwise decode it itself, and differently per driver.
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))::text"


@compiles(json_rows, "sqlite")
def _on_sqlite(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


def parsed(value: str | None) -> list[list[Any]]:
    """The rows :class:`json_rows` gathered: PostgreSQL gives NULL for none, SQLite []."""
    return json.loads(value) if value else []
