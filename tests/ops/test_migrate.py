"""`haven migrate --to`: a SQLite deployment, its evidence files included, copied into an
empty PostgreSQL database, verified, and carried on there; a non-empty target refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.evidence.store import OperatorError
from bot.ops.migrate import migrate
from bot.ops.operator import audit_store, open_store
from bot.runtime import Haven
from tests import blob_access
from tests.backends import Backend
from tests.conftest import TEST_CONFIG, Victim
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import attachment, forward, send_file, stored_items

pytestmark = pytest.mark.only_on("postgresql")


def sqlite_config(data_dir: Path, database_url: str = "") -> Config:
    path = data_dir.parent / "sqlite.toml"
    storage = f'\n[storage]\ndatabase_url = "{database_url}"\n' if database_url else ""
    path.write_text(TEST_CONFIG + storage, encoding="utf-8")
    return load_config(path, data_dir_override=data_dir)


async def test_a_sqlite_deployment_moves_to_postgresql_and_carries_on(
    tmp_path: Path, backend: Backend
) -> None:
    config = sqlite_config(tmp_path / "data")
    clock = ManualClock()
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    victim = Victim(haven, adapter)
    await triage(victim)
    await forward(victim, "pay or I post them")
    await send_file(victim, attachment(b"\x89PNG screenshot " * 5000, name="one.png"))
    before = await stored_items(haven)
    await haven.close()

    target = backend.fresh_url(tmp_path / "unused.db")
    said: list[str] = []
    assert await migrate(config, target, said.append) == 0
    assert any(line.startswith("migration verified") for line in said), said

    moved = sqlite_config(tmp_path / "data", target)  # the same keys, the new database
    haven = await Haven.open(moved, {adapter.platform: adapter}, clock)
    try:
        assert await stored_items(haven) == before
        file_item = before[1]
        assert file_item.blob is not None
        stored = await blob_access.stored_bytes(haven.blobs, file_item.blob)
        assert len(stored) == file_item.size + 32 + 29  # salt and sealing overhead
        victim = Victim(haven, adapter)
        replies = await forward(victim, "a second message after the move")
        assert "#3" in "\n".join(reply.text for reply in replies)
    finally:
        await haven.close()
    async with open_store(moved) as store:
        assert await audit_store(store) == []

    with pytest.raises(OperatorError, match="not empty"):
        await migrate(config, target, said.append)
