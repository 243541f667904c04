"""`haven verify` reads every byte of a large item, not only its first chunk.

The bundle comes the way a lawyer gets one: a victim sends a recording of several
megabytes through the real core, the operator runs `haven export`, and `haven verify`
checks the archive. A forger who changes one byte far inside the file (past the first
megabyte the verifier reads at a time, or the very last byte) must get NOT VERIFIED.
"""

from __future__ import annotations

import asyncio
import secrets
import zipfile
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.evidence.safezip import MiB
from bot.ops.cli import main
from bot.runtime import Haven
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import attachment, send_file

# Three whole chunks and a part of a fourth: the verifier streams the file 1 MiB at a time.
RECORDING = secrets.token_bytes(3 * MiB + 4321)


async def _victim_sends_recording(data_dir: Path) -> None:
    adapter = MemoryAdapter()
    haven = await Haven.open(make_config(data_dir), {adapter.platform: adapter}, ManualClock())
    try:
        victim = Victim(haven, adapter)
        await triage(victim)
        await send_file(victim, attachment(RECORDING, name="call.ogg", kind="voice"))
    finally:
        await haven.close()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Case 1's bundle, exported by the operator command."""
    root = tmp_path_factory.mktemp("large")
    asyncio.run(_victim_sends_recording(root / "data"))
    out = root / "case-1.zip"
    args = ["--config", str(root / "data.toml"), "--data-dir", str(root / "data")]
    assert main(["export", "1", "--out", str(out), "--reason", "court", *args]) == 0
    return out


def forged(bundle: Path, position: int, tmp_path: Path) -> Path:
    """A copy of the bundle with one byte of the recording changed, nothing else."""
    out = tmp_path / "forged.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w") as target:
        (recording,) = [i.filename for i in source.infolist() if i.file_size == len(RECORDING)]
        for info in source.infolist():
            data = source.read(info)
            if info.filename == recording:
                assert data == RECORDING
                data = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
            target.writestr(info, data)
    return out


def test_the_genuine_large_bundle_verifies(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(bundle)]) == 0
    assert "VERIFIED: 1 item(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "position",
    [len(RECORDING) - 1, MiB, 2 * MiB + 77],
    ids=["last byte", "first byte of the second chunk", "inside the third chunk"],
)
def test_one_byte_changed_deep_inside_a_large_item_is_not_verified(
    bundle: Path, position: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(forged(bundle, position, tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "NOT VERIFIED" in out
    assert "is not the file listed" in out
