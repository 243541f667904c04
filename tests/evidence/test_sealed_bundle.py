"""Version 2 bundles, as `haven export` writes them: the checkpoint and every tlog proof
pass a second verifier written from the C2SP specifications alone; the manifest, README
and timeline are under the log key's signature; hostile input gives one line, exit 1."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.evidence.verify import Problem, format_report, verify_bundle
from bot.ops.cli import main
from storage.signed_note import parse_vkey
from tests import c2sp_reference
from tests.conftest import make_config
from tests.ops.test_operator_cli import _victim_with_evidence

ORIGIN = "haven.example.org/evidence"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A case exported by the CLI, and the data dir's published verifier key."""
    root = tmp_path_factory.mktemp("sealed")
    data = root / "data"
    config = make_config(data, f'\n[evidence]\nlog_origin = "{ORIGIN}"\n')
    asyncio.run(_victim_with_evidence(config))
    args = ["--config", str(root / "data.toml"), "--data-dir", str(data)]
    assert main(["init", *args]) == 0
    out = root / "case-1.zip"
    assert main(["export", "1", "--out", str(out), "--reason", "police report", *args]) == 0
    return out, data / "log-public-key.vkey"


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewritten(path: Path, out: Path, **changes: bytes) -> Path:
    files = members(path)
    files.update({name.replace("__", "/").replace("_dot_", "."): v for name, v in changes.items()})
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out


def test_the_checkpoint_and_every_proof_pass_the_second_verifier(
    exported: tuple[Path, Path],
) -> None:
    bundle, vkey_file = exported
    vkey = vkey_file.read_text().strip()
    files = members(bundle)
    assert files["log-public-key.vkey"].decode().strip() == vkey
    text = c2sp_reference.open_signed_note(files["checkpoint"].decode(), vkey)
    origin, size, _ = c2sp_reference.checkpoint_fields(text)
    assert origin == ORIGIN
    manifest = json.loads(files["manifest.json"])
    proven = 0
    for entry in [*manifest["items"], *manifest["custody"]]:
        proof = files[entry["tlog_proof"]].decode()
        index, tree = c2sp_reference.verify_proof(proof, files[entry["leaf"]], vkey)
        assert (index, tree) == (entry["leaf_index"], size)
        proven += 1
    assert proven == len(manifest["items"]) + len(manifest["custody"]) == 3
    note = c2sp_reference.open_signed_note(files["manifest.note"].decode(), vkey)
    assert note.splitlines()[1] == "haven-bundle-manifest-v1"


def test_haven_verify_says_what_it_checked_in_plain_words(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, vkey_file = exported
    assert main(["verify", str(bundle), "--key", str(vkey_file)]) == 0
    out = capsys.readouterr().out
    assert f"C2SP checkpoint ({ORIGIN}, " in out and "signed by the log key" in out
    assert "manifest (case, reason, who exported, every file's SHA-256)" in out
    assert "inclusion proofs (RFC 9162 and c2sp.org/tlog-proof) to the signed root 2/2" in out
    assert "trusted timestamp (RFC 3161): none in this bundle" in out
    assert "item 001" not in out  # a summary; every item only with --verbose
    assert main(["verify", str(bundle), "--verbose"]) == 0
    assert "item 001" in capsys.readouterr().out


def test_a_wrong_vkey_name_or_key_fails_the_independent_check(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, vkey_file = exported
    verifier = parse_vkey(vkey_file.read_text())
    renamed = tmp_path / "renamed.vkey"
    other = type(verifier).for_key("someone.else/log", verifier.public_key)
    renamed.write_text(other.vkey())
    report = verify_bundle(bundle, other)
    assert Problem.TRUSTED_KEY in report.problems() and report.trusted_key_ok is False
    assert main(["verify", str(bundle), "--key", str(renamed)]) == 1


def test_the_manifest_its_reason_and_the_readme_are_under_the_signature(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    manifest = json.loads(members(bundle)["manifest.json"])
    manifest["reason"] = "a reason the operator never gave"
    forged = rewritten(
        bundle, tmp_path / "reason.zip", manifest_dot_json=json.dumps(manifest).encode()
    )
    report = verify_bundle(forged)
    assert not report.ok
    assert any("manifest.note signs another manifest" in str(f) for f in report.findings)
    readme = rewritten(bundle, tmp_path / "readme.zip", README_dot_txt=b"all is well")
    assert any(
        f.subject == "README.txt" and "SHA256SUMS" in f.detail
        for f in verify_bundle(readme).findings
    )


def timeline_of(bundle: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(members(bundle)["timeline.json"])
    return value


def test_the_timeline_is_checked_against_the_log(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    timeline = timeline_of(bundle)
    first = next(e for e in timeline["entries"] if e["type"] == "evidence")
    first["at"] = "2020-01-01T00:00:00.000000Z"
    moved = rewritten(
        bundle, tmp_path / "moved.zip", timeline_dot_json=json.dumps(timeline).encode()
    )
    assert any("its time is not the log's" in str(f) for f in verify_bundle(moved).findings)
    timeline = timeline_of(bundle)
    sent = next(e for e in timeline["entries"] if "Zhang San" in e["text"])
    sent["text"] = sent["text"].replace("Zhang San", "Zed")
    renamed = rewritten(
        bundle, tmp_path / "zed.zip", timeline_dot_json=json.dumps(timeline).encode()
    )
    findings = [str(f) for f in verify_bundle(renamed).findings]
    assert any("names another sender than the log's" in f for f in findings)
    text = members(bundle)["timeline.txt"].decode().replace("Zhang San", "Zed")
    differs = rewritten(bundle, tmp_path / "txt.zip", timeline_dot_txt=text.encode())
    assert any(
        "timeline.txt differs from timeline.json" in str(f) for f in verify_bundle(differs).findings
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"entries": 5}',
        b'{"entries": [{"at": 1}]}',
        b"[" * 200_000 + b"]" * 200_000,
        b'{"entries": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
        b"\xff\xfe",
    ],
    ids=["wrong-type", "wrong-entry", "deep-list", "deep-entries", "not-utf8"],
)
def test_a_malformed_timeline_is_one_finding_and_exit_1(
    exported: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    payload: bytes,
) -> None:
    bundle, _ = exported
    broken = rewritten(bundle, tmp_path / "broken.zip", timeline_dot_json=payload)
    report = verify_bundle(broken)
    assert Problem.FORMAT in report.problems()
    assert main(["verify", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "timeline: timeline.json" in out and "Traceback" not in out
    assert format_report(report)


def test_verify_reads_regular_files_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "/dev/zero"]) == 1
    assert capsys.readouterr().err.strip() == "haven verify: /dev/zero: not a regular file"
    fifo = tmp_path / "bundle.zip"
    os.mkfifo(fifo)
    assert main(["verify", str(fifo)]) == 1  # returns at once: nothing waits for a writer
    assert capsys.readouterr().err.strip().endswith("not a regular file")
    assert main(["verify", str(tmp_path), "--key", "/dev/zero"]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_the_bundle_checks_with_openssl_alone(exported: tuple[Path, Path], tmp_path: Path) -> None:
    """The checkpoint's Ed25519 signature, by hand: the note text, the signature bytes."""
    bundle, _ = exported
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path)
    note = (tmp_path / "checkpoint").read_text()
    text, _, signature_line = note.rpartition("\n\n")
    (tmp_path / "checkpoint.text").write_text(text + "\n")
    raw = base64.b64decode(signature_line.split()[-1])
    (tmp_path / "checkpoint.sig").write_bytes(raw[4:])
    done = subprocess.run(
        [
            "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "log-public-key.pem",
            "-rawin", "-in", "checkpoint.text", "-sigfile", "checkpoint.sig",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert "Signature Verified Successfully" in done.stdout
    sums = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path, capture_output=True
    )
    assert sums.returncode == 0, sums.stdout
