"""Keys that cannot be swapped unnoticed (issue 17), and the public key a data dir made by
`haven run` publishes (issue 23).

- another valid master key than the one that wraps the stored evidence: refused at
  start in one line (it used to start, then fail every forward);
- the log signing key deleted once its public key is published (the first start writes
  it): refused, never silently replaced;
- a damaged or another log signing key: one clear line, no traceback.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from bot.config import Config
from bot.evidence.keyfiles import PUBLIC_KEY_FILE, log_key_path, master_key_path
from bot.ops.cli import main
from bot.runtime import StartupError
from storage import ledger
from storage.keys import MasterKey
from tests.conftest import make_config
from tests.evidence.test_keyfiles import keep_one_item, open_haven

pytestmark = pytest.mark.usefixtures("backend")


def replace_file(path: Path, content: bytes) -> None:
    path.unlink()
    path.write_bytes(content)
    path.chmod(0o600)


def args_of(config: Config, tmp_path: Path) -> list[str]:
    return ["--config", str(tmp_path / "data.toml"), "--data-dir", str(config.data_dir)]


def one_line(message: str) -> str:
    assert "\n" not in message.strip() and "Traceback" not in message
    return message


async def test_another_valid_master_key_is_refused_at_start(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await keep_one_item(config)
    haven = await open_haven(config)
    stored = haven.keyring.current.key_id
    await haven.close()
    other = MasterKey.generate()
    replace_file(master_key_path(config), (other.to_text() + "\n").encode())
    with pytest.raises(StartupError) as refused:
        await open_haven(config)
    message = one_line(str(refused.value))
    assert other.key_id in message and stored in message
    assert "not the one that wraps the stored evidence" in message


def test_the_operator_commands_refuse_another_master_key_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path / "data")
    asyncio.run(keep_one_item(config))
    replace_file(master_key_path(config), (MasterKey.generate().to_text() + "\n").encode())
    assert main(["audit", "verify", *args_of(config, tmp_path)]) != 0
    err = capsys.readouterr().err
    assert one_line(err).startswith("haven: the master key from ")


async def test_a_master_key_with_no_evidence_yet_can_still_be_replaced(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await (await open_haven(config)).close()
    replace_file(master_key_path(config), (MasterKey.generate().to_text() + "\n").encode())
    await (await open_haven(config)).close()


async def test_the_first_start_publishes_the_log_public_key(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    haven = await open_haven(config)
    await haven.close()
    published = (config.data_dir / PUBLIC_KEY_FILE).read_bytes()
    assert b"BEGIN PUBLIC KEY" in published
    assert (config.data_dir / "log-public-key.vkey").read_text().startswith("haven/")


async def test_a_deleted_log_key_is_not_replaced_once_published(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await (await open_haven(config)).close()  # no head signed yet, only published
    log_key_path(config).unlink()
    with pytest.raises(StartupError) as refused:
        await open_haven(config)
    message = one_line(str(refused.value))
    assert "is missing" in message and "restore the file" in message
    assert not log_key_path(config).exists()


def damaged(pem: bytes) -> bytes:
    """The key's algorithm identifier with one bit flipped: still PEM, still DER."""
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    der = bytearray(base64.b64decode(body))
    der[11] ^= 0x04
    encoded = base64.encodebytes(bytes(der))
    return b"-----BEGIN PRIVATE KEY-----\n" + encoded + b"-----END PRIVATE KEY-----\n"


async def test_a_damaged_log_key_is_one_clear_line(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await (await open_haven(config)).close()
    path = log_key_path(config)
    replace_file(path, damaged(path.read_bytes()))
    with pytest.raises(StartupError) as refused:
        await open_haven(config)
    assert one_line(str(refused.value)) == (
        f"log signing key {path} is damaged (not a readable PEM private key); "
        "restore it from your backup"
    )


async def test_another_log_key_than_the_published_one_is_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    await (await open_haven(config)).close()
    other = Ed25519PrivateKey.generate()
    pem = other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    replace_file(log_key_path(config), pem)
    with pytest.raises(StartupError) as refused:
        await open_haven(config)
    assert "is not the key published in" in one_line(str(refused.value))


async def test_another_log_key_than_the_one_that_signed_the_heads_is_refused(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "data")
    await keep_one_item(config)
    haven = await open_haven(config)
    async with haven.db.transaction() as conn:
        await ledger.sign_head(conn, haven.log_key, datetime(2026, 1, 5, tzinfo=UTC))
    await haven.close()
    (config.data_dir / PUBLIC_KEY_FILE).unlink()  # the published copy lost as well
    other = Ed25519PrivateKey.generate()
    replace_file(
        log_key_path(config), other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    with pytest.raises(StartupError) as refused:
        await open_haven(config)
    assert "did not sign the log's latest tree head" in one_line(str(refused.value))


def test_a_bundle_from_a_data_dir_made_by_run_verifies_with_its_published_key(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path / "data")
    asyncio.run(keep_one_item(config))  # Haven as `haven run` builds it; no `haven init`
    out = tmp_path / "case-1.zip"
    assert (
        main(["export", "1", "--out", str(out), "--reason", "court", *args_of(config, tmp_path)])
        == 0
    )
    pinned = config.data_dir / PUBLIC_KEY_FILE
    assert main(["verify", str(out), "--key", str(pinned)]) == 0
