"""The evidence keys at start-up: made on the first start, never silently replaced."""

from __future__ import annotations

import dataclasses
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config, Secrets
from bot.evidence.keyfiles import log_key_path, master_key_path
from bot.runtime import Haven, StartupError
from storage import ledger
from storage.keys import MasterKey
from tests.conftest import Victim, make_config
from tests.evidence.test_evidence import forward

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")


async def open_haven(config: Config) -> Haven:
    return await Haven.open(config, {"memory": MemoryAdapter()}, ManualClock())


async def keep_one_item(config: Config) -> None:
    haven = await open_haven(config)
    adapter = haven.sender.adapters["memory"]
    assert isinstance(adapter, MemoryAdapter)
    await forward(Victim(haven, adapter), "kept")
    await haven.close()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_first_start_creates_both_key_files_private(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    haven = await open_haven(config)
    await haven.close()
    assert master_key_path(config) == config.data_dir / "master.key"
    assert mode(master_key_path(config)) == 0o600
    assert mode(log_key_path(config)) == 0o600
    again = await open_haven(config)
    assert again.keyring.current == haven.keyring.current
    assert again.log_key.public_key() == haven.log_key.public_key()
    await again.close()


async def test_a_lost_master_key_is_not_replaced_once_evidence_exists(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await keep_one_item(config)
    master_key_path(config).unlink()
    with pytest.raises(StartupError, match=r"master\.key is missing"):
        await open_haven(config)
    assert not master_key_path(config).exists()


async def test_a_lost_log_key_is_not_replaced_once_a_head_is_signed(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    haven = await open_haven(config)
    async with haven.db.transaction() as conn:
        await ledger.sign_head(conn, haven.log_key, datetime(2026, 1, 5, tzinfo=UTC))
    await haven.close()
    log_key_path(config).unlink()
    with pytest.raises(StartupError, match=r"log signing key .* is missing"):
        await open_haven(config)


async def test_a_readable_key_file_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await (await open_haven(config)).close()
    log_key_path(config).chmod(0o644)
    with pytest.raises(StartupError, match="chmod 600"):
        await open_haven(config)


async def test_the_environment_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    key = MasterKey.generate()
    config = make_config(tmp_path / "data")
    config = config.model_copy(
        update={"secrets": dataclasses.replace(Secrets(), master_key=key.to_text())}
    )
    haven = await open_haven(config)
    assert haven.keyring.current == key
    await haven.close()
    assert not master_key_path(config).exists()


async def test_a_configured_key_file_path_is_used(tmp_path: Path) -> None:
    key_file = tmp_path / "elsewhere" / "haven.key"
    key_file.parent.mkdir()
    config = make_config(tmp_path / "data", f'\n[storage]\nmaster_key_file = "{key_file}"\n')
    assert master_key_path(config) == key_file
    await (await open_haven(config)).close()
    assert mode(key_file) == 0o600
    assert not (config.data_dir / "master.key").exists()
