"""A receipted item survives a power cut, not only a crash of the process.

kill -9 alone cannot tell synchronous=FULL from NORMAL: either way the last commits sit
in the kernel's page cache and reach the disk later. A power cut loses that cache, so it
is simulated: the bot runs with tests/storage/power_cut.c preloaded, which keeps, for
every write to the SQLite write-ahead log, what the write replaced, and forgets it when
the log is synced. The bot receives a forward, sends its receipt and is killed; the log
is then wound back to its last sync, as the disk would hold it after the power came back.

A control shows the simulation bites: a commit made on a second connection with
synchronous=OFF after the receipt is lost. Under NORMAL the receipted item is lost too.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.runtime import Haven
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import details, forward

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RECORD = struct.Struct("<qqq")  # offset, the file's size before, bytes kept (power_cut.c)
MARKER = "power_cut_marker"
LEAKED = "他把我们的聊天记录发到了公司群里 — receipted just before the power went"


@pytest.fixture(scope="module")
def power_cut_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    library = tmp_path_factory.mktemp("power_cut") / "power_cut.so"
    source = HERE / "power_cut.c"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source), "-ldl"], check=True
    )
    return library


async def _open_and_close(config: Config) -> None:
    """Migrations and keys, then a clean close: the log starts empty."""
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
    await haven.close()


async def _receive_then_die(config: Config) -> None:
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
    victim = Victim(haven, adapter)
    await triage(victim)
    (receipt,) = await forward(victim, LEAKED)
    digest = hashlib.sha256(LEAKED.encode()).hexdigest()
    assert digest in await details(victim, receipt)
    control = sqlite3.connect(config.data_dir / "haven.db", isolation_level=None)
    control.execute("PRAGMA synchronous=OFF")
    control.execute(f"CREATE TABLE {MARKER} (x)")
    print("RECEIPTED", digest, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def cut_power(log: Path, undo: Path) -> int:
    """Undo every write to ``log`` since its last sync, newest first; how many."""
    data, records = undo.read_bytes() if undo.exists() else b"", []
    while data:
        offset, size, kept = RECORD.unpack_from(data)
        records.append((offset, size, data[RECORD.size : RECORD.size + kept]))
        data = data[RECORD.size + kept :]
    with log.open("r+b") as handle:
        for offset, size, old in reversed(records):
            handle.seek(offset)
            handle.write(old)
            handle.truncate(size)
    return len(records)


def test_a_receipted_item_survives_a_power_cut(tmp_path: Path, power_cut_library: Path) -> None:
    data = tmp_path / "data"
    asyncio.run(_open_and_close(make_config(data)))
    undo = tmp_path / "undo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    env |= {"LD_PRELOAD": str(power_cut_library), "POWER_CUT_UNDO": str(undo)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.storage.test_power_cut", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    digest = done.stdout.split("RECEIPTED ")[1].split()[0]

    assert cut_power(data / "haven.db-wal", undo) > 0, "the control commit was never synced"
    (data / "haven.db-shm").unlink()
    with sqlite3.connect(data / "haven.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        assert MARKER not in tables, "an unsynced commit survived: no power cut happened"
        query = "SELECT count(*) FROM evidence_items WHERE content_sha256 = ?"
        ((items,),) = db.execute(query, (digest,)).fetchall()
    assert items == 1, "the receipted item was lost in the power cut"


if __name__ == "__main__":
    data_dir = Path(sys.argv[1])
    config_path = data_dir.parent / f"{data_dir.name}.toml"
    asyncio.run(_receive_then_die(load_config(config_path, data_dir_override=data_dir)))
