"""`haven backup` and `haven restore`: the restore drill (forward, back up, destroy the data
directory, restore, check everything), and backups that must be refused."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.events import Outbound
from bot.evidence.keyfiles import LOG_KEY_FILE, MASTER_KEY_FILE, PUBLIC_KEY_FILE
from bot.ops.backup import Counter
from bot.ops.cli import main
from bot.ops.operator import open_store
from bot.runtime import Haven
from storage import case_keys, evidence_items, ledger
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import LEAKED, attachment, details, forward, send_file

pytestmark = pytest.mark.usefixtures("backend")

PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
RECEIPT = re.compile(
    r"#(\d+)\.\n.*?\(SHA-256\): ([0-9a-f]{64})\s+Log position: (\d+) "
    r"\(log size (\d+), root ([0-9a-f]{64})\)",
    re.S,
)
KEY_FILES = (MASTER_KEY_FILE, LOG_KEY_FILE)


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAVEN_MASTER_KEY", raising=False)
    monkeypatch.delenv("HAVEN_CONFIG", raising=False)


async def _forward_evidence(config: Config) -> list[tuple[int, str, int, int, str]]:
    """Case 1 with a forward, a file and another forward; the receipts as the victim
    got them: (item, SHA-256, log position, log size, root)."""
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
    try:
        victim = Victim(haven, adapter)
        await triage(victim)
        replies = await forward(victim, LEAKED)
        replies += await send_file(victim, attachment(PHOTO, name="shot.png"))
        replies += await forward(victim, "pay 5000 by Friday or everyone sees it")
        shown = [await details(victim, reply) for reply in replies if _has_details(reply)]
    finally:
        await haven.close()
    receipts = [RECEIPT.search(text) for text in shown]
    found = [match.groups() for match in receipts if match]
    assert len(found) == 3, shown
    return [(int(n), digest, int(i), int(s), root) for n, digest, i, s, root in found]


def _has_details(reply: Outbound) -> bool:
    return any(b.data.startswith("evd:") for row in reply.buttons for b in row)


async def _receipts_check(config: Config, receipts: list[tuple[int, str, int, int, str]]) -> None:
    """Each receipt still holds: the item reads back to its SHA-256, sits at its log
    position, and the log at the receipt's size has the receipt's root."""
    async with open_store(config) as store, store.db.transaction() as conn:
        key = await case_keys.data_key(conn, store.keyring, 1)
        items = {item.item_no: item for item in await evidence_items.for_case(conn, 1)}
        for number, digest, index, size, root in receipts:
            item = items[number]
            content = (await evidence_items.open_item(store.blobs, key, item)).content
            assert hashlib.sha256(content).hexdigest() == digest
            assert item.leaf_index == index
            assert (await ledger.root(conn, size)).hex() == root


@pytest.fixture
def backed_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Config, list[str], Path, Path]:
    """A data directory with evidence, `haven init` run, the keys and the published key
    copied apart as an operator keeps them, and a backup. (config, args, backup, keys)"""
    data = tmp_path / "data"
    config = make_config(data)
    receipts = asyncio.run(_forward_evidence(config))
    args = ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]
    assert main(["init", *args]) == 0
    keys = tmp_path / "kept-apart"
    keys.mkdir(mode=0o700)
    for name in (*KEY_FILES, PUBLIC_KEY_FILE):
        shutil.copy2(data / name, keys / name)
    backup = tmp_path / "haven-backup.tar"
    capsys.readouterr()
    assert main(["backup", "--out", str(backup), *args]) == 0
    (keys / "said").write_text(capsys.readouterr().out)
    (keys / "receipts").write_text(repr(receipts))
    return config, args, backup, keys


@pytest.mark.only_on("sqlite")
def test_restore_drill(
    backed_up: tuple[Config, list[str], Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, args, backup, keys = backed_up
    said = (keys / "said").read_text()
    assert str(config.data_dir / MASTER_KEY_FILE) in said and LOG_KEY_FILE in said
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    content = backup.read_bytes()
    for name in KEY_FILES:
        assert (keys / name).read_bytes() not in content
    with tarfile.open(backup) as tar:
        assert not {n for n in tar.getnames() if n.rsplit("/", 1)[-1] in KEY_FILES}
    receipts = eval((keys / "receipts").read_text())  # our own repr of a list of tuples

    shutil.rmtree(config.data_dir)  # the disaster
    restored = main(["restore", str(backup), "--key", str(keys / PUBLIC_KEY_FILE), *args])
    assert restored == 0, capsys.readouterr().err
    assert "audit verify" in capsys.readouterr().out
    for name in KEY_FILES:
        shutil.copy2(keys / name, config.data_dir / name)

    assert main(["audit", "verify", *args]) == 0, capsys.readouterr().out
    asyncio.run(_receipts_check(config, receipts))
    bundle = config.data_dir.parent / "case-1.zip"
    assert main(["export", "1", "--out", str(bundle), "--reason", "drill", *args]) == 0
    assert main(["verify", str(bundle), "--key", str(keys / PUBLIC_KEY_FILE)]) == 0


@pytest.mark.only_on("sqlite")
@pytest.mark.parametrize("member", ["haven.db", "blob", "manifest.json", "manifest.sig"])
def test_a_backup_with_one_changed_byte_is_refused(
    backed_up: tuple[Config, list[str], Path, Path],
    capsys: pytest.CaptureFixture[str],
    member: str,
) -> None:
    config, args, backup, _ = backed_up
    with tarfile.open(backup) as tar:
        infos = tar.getmembers()
    (info,) = [i for i in infos if i.name == member or (member == "blob" and "/" in i.name)][:1]
    data = bytearray(backup.read_bytes())
    data[info.offset_data + info.size // 2] ^= 0x01
    backup.write_bytes(bytes(data))
    shutil.rmtree(config.data_dir)
    capsys.readouterr()
    assert main(["restore", str(backup), *args]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "nothing was restored" in line
    assert [p.name for p in config.data_dir.iterdir()] in ([], ["haven.lock"])


@pytest.mark.only_on("sqlite")
def test_restore_refuses_a_data_dir_with_anything_in_it(
    backed_up: tuple[Config, list[str], Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, args, backup, _ = backed_up
    before = sorted(p.name for p in config.data_dir.iterdir())
    capsys.readouterr()
    assert main(["restore", str(backup), *args]) == 1
    assert "not an empty directory" in capsys.readouterr().err
    assert sorted(p.name for p in config.data_dir.iterdir()) == before


@pytest.mark.only_on("sqlite")
def test_restore_refuses_a_backup_signed_by_another_key(
    backed_up: tuple[Config, list[str], Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, args, backup, _ = backed_up
    other = make_config(tmp_path / "other")
    assert (
        main(["init", "--config", str(tmp_path / "other.toml"), "--data-dir", str(other.data_dir)])
        == 0
    )
    shutil.rmtree(config.data_dir)
    capsys.readouterr()
    pinned = str(other.data_dir / PUBLIC_KEY_FILE)
    assert main(["restore", str(backup), "--key", pinned, *args]) == 1
    assert "not by" in capsys.readouterr().err


@pytest.mark.only_on("sqlite")
def test_backup_out_refuses_an_existing_file_and_never_follows_a_link(
    backed_up: tuple[Config, list[str], Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, args, _, _ = backed_up
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    link = tmp_path / "link.tar"
    link.symlink_to(target)
    for out in (target, link):
        assert main(["backup", "--out", str(out), *args]) == 1
        assert "exists" in capsys.readouterr().err
    assert main(["backup", "--out", str(link), "--force", *args]) == 0
    assert target.read_bytes() == b"keep me"
    assert not link.is_symlink() and tarfile.is_tarfile(link)


@pytest.mark.only_on("postgresql")
def test_on_postgresql_backup_and_restore_point_to_pg_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path / "data")
    args = ["--config", str(tmp_path / "data.toml"), "--data-dir", str(config.data_dir)]
    for command in (["backup", "--out", str(tmp_path / "b.tar")], ["restore", "b.tar"]):
        assert main([*command, *args]) == 1
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert "pg_dump" in line and "key files" in line
    assert not (tmp_path / "b.tar").exists()


def test_progress_is_shown_for_long_runs_only() -> None:
    seconds = iter([0.0, 0.1, 0.2, 0.3])
    quick = io.StringIO()
    counter = Counter("backup", quick, clock=lambda: next(seconds))
    for done in range(1, 4):
        counter(done, 3)
    assert quick.getvalue() == ""
    moments = iter([0.0, 0.5, 1.5, 1.7, 2.9, 3.0])
    slow = io.StringIO()
    counter = Counter("restore", slow, clock=lambda: next(moments))
    for done in range(1, 6):
        counter(done, 5)
    assert slow.getvalue().splitlines() == [
        "restore: 2/5 files",
        "restore: 4/5 files",
        "restore: 5/5 files",
    ]
