"""RFC 3161 timestamps against a real TSA on 127.0.0.1 (`openssl ts -reply`): the round
trip, the four findings `haven verify --tsa-ca` must give (a changed token, a wrong TSA
certificate, an expired certificate, a missing token), and a TSA that is down."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import Config
from bot.evidence.stamping import Stamper
from bot.evidence.verify import Problem, load_tsa_roots, verify_bundle
from bot.ops.cli import main
from bot.ops.operator import open_store
from storage import timestamps
from storage.schema import head_timestamps
from tests.conftest import make_config
from tests.ops.test_operator_cli import _victim_with_evidence, query
from tests.tsa_rig import NOW, Authority, TsaServer, running_tsa, stamped_within

TSA_NAME = "CN=Haven Test TSA,O=Haven test PKI"


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    with running_tsa(tmp_path / "tsa") as server:
        yield server


def store_with_tsa(tmp_path: Path, url: str) -> tuple[Config, list[str]]:
    data = tmp_path / "data"
    config = make_config(data, f'\n[evidence]\ntsa_urls = ["{url}"]\ntsa_timeout_seconds = 5\n')
    asyncio.run(_victim_with_evidence(config))
    return config, ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]


def export(args: list[str], out: Path) -> Path:
    assert main(["export", "1", "--out", str(out), "--reason", "court", *args]) == 0
    return out


def with_token(bundle: Path, out: Path, token: bytes) -> Path:
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = token if info.filename == "timestamps/01.tsr" else source.read(info)
            target.writestr(info, data)
    return out


def timestamp_findings(bundle: Path, ca: Path) -> list[str]:
    report = verify_bundle(bundle, tsa_roots=load_tsa_roots(ca))
    return [f.detail for f in report.findings if f.problem is Problem.TIMESTAMP]


def test_the_round_trip_through_the_openssl_tsa(
    tsa: TsaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since = dt.datetime.now(dt.UTC)
    _, args = store_with_tsa(tmp_path, tsa.url)
    bundle = export(args, tmp_path / "case-1.zip")
    capsys.readouterr()
    ca = tsa.authority.ca_file
    assert main(["verify", str(bundle), "--tsa-ca", str(ca)]) == 0
    out = capsys.readouterr().out
    assert stamped_within(out, since)
    assert f"by {TSA_NAME}; signature and certificate: ok" in out
    assert main(["verify", str(bundle)]) == 0
    assert "not checked (no --tsa-ca given)" in capsys.readouterr().out
    # and with OpenSSL alone, as README.txt says
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "x")
    done = subprocess.run(
        [
            "openssl", "ts", "-verify", "-in", "timestamps/01.tsr", "-data", "checkpoint",
            "-CAfile", str(ca),
        ],
        cwd=tmp_path / "x",
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert "Verification: OK" in done.stdout, done.stderr
    record = (tmp_path / "x" / "extraction-record.csv").read_text(encoding="utf-8-sig")
    assert TSA_NAME in record


def test_a_changed_token_is_found(tsa: TsaServer, tmp_path: Path) -> None:
    _, args = store_with_tsa(tmp_path, tsa.url)
    bundle = export(args, tmp_path / "case-1.zip")
    with zipfile.ZipFile(bundle) as archive:
        token = bytearray(archive.read("timestamps/01.tsr"))
    token[-3] ^= 0x01  # inside the signature
    changed = with_token(bundle, tmp_path / "changed.zip", bytes(token))
    assert timestamp_findings(changed, tsa.authority.ca_file) == [
        "its signature does not verify: the token was changed"
    ]
    damaged = with_token(bundle, tmp_path / "damaged.zip", b"\x30\x03junk")
    assert timestamp_findings(damaged, tsa.authority.ca_file) == [
        "the token is damaged: not an RFC 3161 timestamp response"
    ]


def test_a_token_from_an_authority_the_ca_does_not_vouch_for(
    tsa: TsaServer, tmp_path: Path
) -> None:
    _, args = store_with_tsa(tmp_path, tsa.url)
    bundle = export(args, tmp_path / "case-1.zip")
    stranger = Authority.create(tmp_path / "stranger", "Some Other Root CA")
    (finding,) = timestamp_findings(bundle, stranger.ca_file)
    assert finding.startswith("it was not issued by an authority the CA file vouches for")


def test_a_token_signed_with_an_expired_certificate(tsa: TsaServer, tmp_path: Path) -> None:
    tsa.authority.issue_tsa(NOW - dt.timedelta(days=400), NOW - dt.timedelta(days=35))
    _, args = store_with_tsa(tmp_path, tsa.url)
    bundle = export(args, tmp_path / "case-1.zip")
    (finding,) = timestamp_findings(bundle, tsa.authority.ca_file)
    assert finding.startswith("the authority's certificate was not valid at the time stamped")


def test_a_missing_token_is_a_finding_when_one_is_asked_for(
    tsa: TsaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsa.down = True
    _, args = store_with_tsa(tmp_path, tsa.url)
    bundle = export(args, tmp_path / "case-1.zip")
    assert timestamp_findings(bundle, tsa.authority.ca_file) == [
        "the bundle has no timestamp token to check"
    ]
    capsys.readouterr()
    assert main(["verify", str(bundle), "--tsa-ca", str(tsa.authority.ca_file)]) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


async def test_a_tsa_that_is_down_delays_the_timestamp_but_never_loses_it(
    tsa: TsaServer, tmp_path: Path
) -> None:
    tsa.down = True
    config, args = await asyncio.to_thread(store_with_tsa, tmp_path, tsa.url)
    await asyncio.to_thread(export, args, tmp_path / "case-1.zip")  # not held up
    ((attempts, token),) = await asyncio.to_thread(
        query, config, select(head_timestamps.c.attempts, head_timestamps.c.token)
    )
    assert attempts == 1 and token is None
    tsa.down = False
    clock = ManualClock()
    clock.set(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3))
    async with open_store(config, clock) as store:
        stamper = Stamper(store.db, [tsa.url], 5, clock)
        async with store.db.transaction() as conn:
            assert await timestamps.waiting_count(conn) == 1
            assert await stamper.next_due(conn, clock.now() - dt.timedelta(hours=1)) is not None
        await stamper.fire_due(clock.now())
        await stamper.settle()
        async with store.db.transaction() as conn:
            assert await timestamps.waiting_count(conn) == 0
            (head_id,) = (await conn.execute(select(head_timestamps.c.head_id))).scalars()
            (stamped,) = await timestamps.tokens_of(conn, head_id)
    assert stamped.tsa_url == tsa.url and stamped.token.startswith(b"\x30")
