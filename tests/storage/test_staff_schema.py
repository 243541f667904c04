"""Migrations build exactly what storage/schema.py declares for the staff side."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from storage.database import Database
from storage.schema import metadata
from tests.backends import Backend


@pytest.fixture
async def db(tmp_path: Path, backend: Backend) -> AsyncIterator[Database]:
    async with backend.migrated(tmp_path / "haven.db") as database:
        yield database


async def test_the_migrated_schema_matches_the_declared_one(db: Database) -> None:
    def differences(connection: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with db.transaction() as conn:
        assert await conn.run_sync(differences) == []
