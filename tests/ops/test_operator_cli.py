"""Operator commands end to end: `haven audit verify`, `export`, `hold`, `release`,
`erase`, `retention` and `keys rotate`, driven through bot.cli.main against a data
directory filled by the real core."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select, update

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.evidence import rotation
from bot.evidence.keyfiles import master_key_path, pending_master_key_path
from bot.evidence.store import OperatorError, Store
from bot.evidence.verify import verify_bundle
from bot.ops.cli import main
from bot.ops.operator import audit_store, open_store
from bot.runtime import Haven
from storage import case_keys, evidence_items
from storage.blobs import BlobStore
from storage.schema import case_keys as case_keys_table
from storage.schema import cases, custody_events, outbox, reminders
from storage.schema import evidence_items as items_table
from tests import blob_access
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import LEAKED, attachment, forward, send_file

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

T = TypeVar("T")
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAVEN_MASTER_KEY", raising=False)
    monkeypatch.delenv("HAVEN_CONFIG", raising=False)


async def _victim_with_evidence(config: Config, user: str = "v1") -> None:
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
    try:
        victim = Victim(haven, adapter, user)
        await triage(victim)
        await forward(victim, LEAKED)
        await send_file(victim, attachment(PHOTO, name="shot.png"))
    finally:
        await haven.close()


@pytest.fixture
def store_dir(tmp_path: Path) -> tuple[Config, list[str]]:
    """A data dir holding case 1 (a forward and a photo); the CLI arguments that name it."""
    data = tmp_path / "data"
    config = make_config(data)
    run(_victim_with_evidence(config))
    return config, ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]


def haven(args: list[str], *command: str) -> int:
    return main([*command, *args])


async def _with_store(config: Config, use: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    async with open_store(config) as store:
        return await use(store)


def query(config: Config, statement: Any) -> list[Any]:
    async def go(store: Store) -> list[Any]:
        async with store.db.transaction() as conn:
            result = await conn.execute(statement)
            return list(result.all()) if result.returns_rows else []

    return run(_with_store(config, go))


def contents(config: Config) -> list[bytes]:
    async def go(store: Store) -> list[bytes]:
        async with store.db.transaction() as conn:
            key = await case_keys.data_key(conn, store.keyring, 1)
            items = await evidence_items.for_case(conn, 1)
        return [(await evidence_items.open_item(store.blobs, key, i)).content for i in items]

    return run(_with_store(config, go))


def actions(config: Config) -> list[tuple[str, str, str]]:
    rows = query(
        config,
        select(custody_events.c.actor, custody_events.c.action, custody_events.c.reason)
        .where(custody_events.c.action != "received")
        .order_by(custody_events.c.id),
    )
    return [tuple(row) for row in rows]


# ---- audit verify --------------------------------------------------------------------


def test_audit_passes_on_a_clean_store(
    store_dir: tuple[Config, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, args = store_dir
    assert haven(args, "audit", "verify") == 0
    assert "audit passed" in capsys.readouterr().out


def test_audit_names_a_tampered_blob_and_a_tampered_row(
    store_dir: tuple[Config, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = store_dir
    ((blob,),) = query(config, select(items_table.c.blob).where(items_table.c.blob.is_not(None)))
    run(_with_store(config, lambda store: blob_access.flip_last_bit(store.blobs, blob)))
    assert haven(args, "audit", "verify") == 1
    out = capsys.readouterr().out
    assert "blob_corrupted (leaf 1; case 1, item 2)" in out
    assert "audit failed: 1 finding(s)" in out

    query(config, update(items_table).where(items_table.c.item_no == 1).values(size=1))
    assert haven(args, "audit", "verify") == 1
    out = capsys.readouterr().out
    assert "item_differs (leaf 0; case 1, item 1)" in out


# ---- export --------------------------------------------------------------------------


def test_export_writes_a_bundle_that_verifies_and_logs_who_why_first(
    store_dir: tuple[Config, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = store_dir
    out = tmp_path / "case-1.zip"
    assert haven(args, "export", "1", "--out", str(out), "--reason", "police report") == 0
    assert "exported case 1: 2 item(s)" in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0
    report = verify_bundle(out)
    assert report.ok and report.manifest is not None
    assert report.manifest.reason == "police report"
    assert report.manifest.exported_by == "operator"
    assert len(report.items) == 2 and len(report.custody) == 1
    sha = {item.sha256 for item in report.manifest.items}
    assert hashlib.sha256(LEAKED.encode()).digest() in sha
    assert actions(config) == [("operator", "export", "police report")]
    # the export's own event lies inside the signed head the bundle carries
    assert report.tree_head is not None and report.tree_head.size == 3
    assert haven(args, "audit", "verify") == 0


def test_export_of_a_missing_case_fails_with_one_line(
    store_dir: tuple[Config, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, args = store_dir
    assert haven(args, "export", "9", "--out", str(tmp_path / "x.zip"), "--reason", "r") == 1
    assert capsys.readouterr().err.strip() == "haven: there is no case 9"


# ---- init ----------------------------------------------------------------------------


def test_init_sets_up_once_and_publishes_the_key_a_bundle_verifies_against(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "fresh"
    config = make_config(data)
    args = ["--config", str(tmp_path / "fresh.toml"), "--data-dir", str(data)]
    assert haven(args, "init") == 0
    first = capsys.readouterr().out
    for key_file in ("master.key", "log-signing.key"):
        assert (data / key_file).stat().st_mode & 0o777 == 0o600
    assert haven(args, "init") == 0
    assert capsys.readouterr().out == first  # the same keys: nothing was replaced
    run(_victim_with_evidence(config))
    out = tmp_path / "case-1.zip"
    assert haven(args, "export", "1", "--out", str(out), "--reason", "court") == 0
    pinned = data / "log-public-key.pem"
    assert main(["verify", str(out), "--key", str(pinned)]) == 0
    assert "fingerprint" in first and "master.key" in first


# ---- hold, release, erase ------------------------------------------------------------


def test_erase_is_refused_while_held_then_shreds_the_case(
    store_dir: tuple[Config, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = store_dir
    ((blob,),) = query(config, select(items_table.c.blob).where(items_table.c.blob.is_not(None)))

    def blob_exists() -> bool:
        return run(_with_store(config, lambda store: store.blobs.aexists(blob)))

    assert blob_exists()
    pending_reminders = select(func.count()).where(
        reminders.c.case_id == 1, reminders.c.state == "pending"
    )
    assert query(config, pending_reminders)[0][0] > 0

    assert haven(args, "hold", "1", "--reason", "court order 7") == 0
    assert haven(args, "hold", "1", "--reason", "again") == 1
    assert haven(args, "erase", "1", "--yes") == 1
    assert "legal hold" in capsys.readouterr().err
    assert contents(config)[0] == LEAKED.encode()
    assert haven(args, "release", "1") == 0
    assert haven(args, "release", "1") == 1
    assert haven(args, "erase", "1", "--yes", "--reason", "victim asked") == 0
    assert "case 1 erased: 2 item(s)" in capsys.readouterr().out

    assert actions(config) == [
        ("operator", "hold", "court order 7"),
        ("operator", "release", ""),
        ("operator", "erase", "victim asked"),
    ]
    with pytest.raises(case_keys.CaseKeyErased):
        contents(config)
    ((wrapped, erased_at),) = query(
        config, select(case_keys_table.c.wrapped_key, case_keys_table.c.erased_at)
    )
    assert wrapped is None and erased_at is not None
    assert not blob_exists()
    assert query(config, pending_reminders)[0][0] == 0
    assert (
        query(
            config,
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.case_id == 1, outbox.c.state == "pending"),
        )[0][0]
        == 0
    )
    names = query(
        config,
        select(
            items_table.c.file_name,
            items_table.c.content_sha256,
            items_table.c.content_commitment,
            items_table.c.origin_sender,
        ),
    )
    assert all(name == sender == "" and sha == salted for name, sha, salted, sender in names)
    assert haven(args, "audit", "verify") == 0
    assert haven(args, "erase", "1", "--yes") == 1
    out = tmp_path / "gone.zip"
    assert haven(args, "export", "1", "--out", str(out), "--reason", "r") == 1
    assert "was erased" in capsys.readouterr().err


def test_erase_without_yes_off_a_terminal_is_refused(
    store_dir: tuple[Config, list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, args = store_dir
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert haven(args, "erase", "1") == 1
    assert "--yes" in capsys.readouterr().err
    assert contents(config)[0] == LEAKED.encode()


def test_erase_on_a_terminal_asks_for_the_case_number(
    store_dir: tuple[Config, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, args = store_dir
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "2")
    assert haven(args, "erase", "1") == 1
    assert contents(config)[0] == LEAKED.encode()
    monkeypatch.setattr("builtins.input", lambda _prompt: "1")
    assert haven(args, "erase", "1") == 0
    with pytest.raises(case_keys.CaseKeyErased):
        contents(config)


# ---- retention -----------------------------------------------------------------------


def test_retention_erases_old_closed_cases_except_held_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    config = make_config(data)
    for user in ("v1", "v2", "v3"):
        run(_victim_with_evidence(config, user))
    args = ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]
    days = config.retention.closed_case_days
    old = ManualClock().now() - timedelta(days=days + 400)
    query(
        config, update(cases).where(cases.c.id.in_([1, 2])).values(status="closed", closed_at=old)
    )
    assert haven(args, "hold", "2", "--reason", "litigation") == 0
    capsys.readouterr()

    assert haven(args, "retention", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "case 1  closed" in out and "case 2  closed" in out and "(on hold: kept)" in out
    assert "case 3" not in out
    assert "1 case(s) would be erased" in out
    assert (
        query(config, select(func.count()).where(case_keys_table.c.erased_at.is_not(None)))[0][0]
        == 0
    )

    assert haven(args, "retention", "--apply") == 0
    out = capsys.readouterr().out
    assert "case 1 erased" in out and "case 2 kept: on legal hold" in out
    erased = query(
        config, select(case_keys_table.c.case_id).where(case_keys_table.c.erased_at.is_not(None))
    )
    assert [row[0] for row in erased] == [1]
    assert ("operator", "erase", f"retention: closed more than {days} days ago") in actions(config)
    assert haven(args, "retention", "--dry-run") == 0
    assert "case 1" not in capsys.readouterr().out
    assert haven(args, "audit", "verify") == 0


@pytest.mark.only_on("sqlite")  # on PostgreSQL blobs commit with their items: no leftovers
def test_retention_removes_blob_files_no_item_names_once_an_hour_old(
    store_dir: tuple[Config, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = store_dir
    blobs = BlobStore(config.data_dir / "blobs")
    (kept,) = list(blobs.addresses())  # case 1's photo
    hour_ago = time.time() - 3601
    crashed = blobs.path_of(blobs.put(b"sealed ahead, never committed"))
    os.utime(crashed, (hour_ago, hour_ago))
    half_written = crashed.parent / ".tmp-interrupted"
    half_written.write_bytes(b"half")
    os.utime(half_written, (hour_ago, hour_ago))
    in_flight = blobs.path_of(blobs.put(b"sealed a moment ago"))
    capsys.readouterr()

    assert haven(args, "retention", "--dry-run") == 0
    assert "2 leftover blob file(s) that no item names would be deleted" in capsys.readouterr().out
    assert crashed.exists() and half_written.exists()

    assert haven(args, "retention", "--apply") == 0
    assert "2 leftover blob file(s) that no item names deleted" in capsys.readouterr().out
    assert not crashed.exists() and not half_written.exists()
    assert in_flight.exists() and blobs.path_of(kept).exists()
    assert haven(args, "audit", "verify") == 0


# ---- keys rotate ---------------------------------------------------------------------


def test_rotation_rewraps_every_case_key_and_replaces_the_key_file(
    store_dir: tuple[Config, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = store_dir
    before = contents(config)
    old_text = master_key_path(config).read_text()
    assert haven(args, "keys", "rotate") == 0
    out = capsys.readouterr().out
    assert "1 case key(s) re-wrapped" in out
    assert old_text.strip() not in out
    assert master_key_path(config).read_text() != old_text
    assert oct(master_key_path(config).stat().st_mode & 0o777) == "0o600"
    assert not pending_master_key_path(config).exists()
    assert contents(config) == before
    assert actions(config)[-1][:2] == ("operator", "rekey")
    assert haven(args, "audit", "verify") == 0


class Crash(Exception):
    pass


def test_an_interrupted_rotation_loses_nothing_and_finishes_when_run_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    config = make_config(data)
    for user in ("v1", "v2", "v3"):
        run(_victim_with_evidence(config, user))
    args = ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]
    before = contents(config)
    old_text = master_key_path(config).read_text()

    def crash_after_first(case_id: int) -> None:
        raise Crash

    async def interrupted(store: Store) -> None:
        await rotation.rotate(store, after_each=crash_after_first)

    with pytest.raises(Crash):
        run(_with_store(config, interrupted))
    ids = {row[0] for row in query(config, select(case_keys_table.c.master_key_id))}
    assert len(ids) == 2  # half re-wrapped
    assert master_key_path(config).read_text() == old_text
    assert pending_master_key_path(config).exists()
    assert contents(config) == before  # both key files loaded
    assert run(_with_store(config, audit_store)) == []

    assert haven(args, "keys", "rotate") == 0
    assert "2 case key(s) re-wrapped" in capsys.readouterr().out
    ids = {row[0] for row in query(config, select(case_keys_table.c.master_key_id))}
    assert len(ids) == 1
    assert not pending_master_key_path(config).exists()
    assert contents(config) == before
    assert haven(args, "audit", "verify") == 0


def test_rotation_is_refused_when_the_key_comes_from_the_environment(
    store_dir: tuple[Config, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = store_dir
    text = master_key_path(config).read_text().strip()
    monkeypatch.setenv("HAVEN_MASTER_KEY", text)
    from bot.config import load_config

    env_config = load_config(
        config.data_dir.parent / "data.toml", data_dir_override=config.data_dir
    )

    async def go(store: Store) -> None:
        await rotation.rotate(store)

    with pytest.raises(OperatorError, match="HAVEN_MASTER_KEY"):
        run(_with_store(env_config, go))
