"""What `haven verify` tells its reader: each failed check marked FAILED where it failed,
the --key line saying whether the key was checked, refusals and key-file errors in one
line that says why. The layout may change; the marks and the words a reader acts on
must not lie."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.evidence.bundle import MANIFEST, TimelineFiles
from bot.evidence.bundle_writer import write_bundle
from bot.evidence.safezip import MiB
from bot.evidence.verify import KeyFileError, Problem, format_report, load_key, verify_bundle
from tests.evidence.test_bundle import (  # the fixtures too: the same bundle is used
    ITEM_1,
    add,
    build_bundle,
    bundle_path,
    change,
    drop,
    flip_last_byte,
    key,
    pem_public,
    rebuilt,
)

__all__ = ["bundle_path", "key"]


def row(report_text: str, label: str) -> list[str]:
    """The columns of one row of the report, by its label ("item 001", "custody 001")."""
    (line,) = [line for line in report_text.splitlines() if line.startswith(label)]
    return line.removeprefix(label).split()


def test_each_failed_check_is_marked_where_it_failed(
    bundle_path: Path, key: Ed25519PrivateKey
) -> None:
    tampered = rebuilt(bundle_path, change(ITEM_1, flip_last_byte))
    wrong = Ed25519PrivateKey.generate().public_key()
    text = format_report(verify_bundle(tampered, wrong))
    lines = text.splitlines()
    assert lines[0].split() == ["Bundle", str(tampered)]
    assert "Signature with the key in the bundle: ok" in lines
    assert re.search(r"^Signature with --key:\s+FAILED$", text, re.MULTILINE)
    assert row(text, "item 001")[:4] == ["photo", "FAILED", "FAILED", "ok"]
    assert row(text, "item 002")[:4] == ["text", "ok", "ok", "ok"]
    assert row(text, "custody 001") == ["ok"]
    assert lines[-1] == "NOT VERIFIED: 3 problem(s)."
    assert sum(line.startswith("problem: ") for line in lines) == 3
    (header,) = [line for line in lines if line.split()[:1] == ["kind"]]
    assert header.split() == ["kind", "hash", "commitment", "inclusion", "file"]
    assert all(line == line.rstrip() for line in lines), "no trailing blanks"
    assert text.count("\n\n") >= 3, "the sections are set apart by blank lines"


def test_a_report_says_whether_the_key_was_checked(
    bundle_path: Path, key: Ed25519PrivateKey
) -> None:
    text = format_report(verify_bundle(bundle_path))
    assert re.search(r"^Signature with --key:\s+not checked \(no --key given\)$", text, re.M)
    assert text.splitlines()[-1] == (
        "VERIFIED: 3 item(s) and 1 custody event(s). Only the key inside the bundle was used:"
        " compare its fingerprint with the organisation's, or run again with --key."
    )
    assert "\n\nproblem" not in text and "FAILED" not in text
    with_key = format_report(verify_bundle(bundle_path, key.public_key()))
    assert re.search(r"^Signature with --key:\s+ok$", with_key, re.MULTILINE)
    assert with_key.splitlines()[-1] == "VERIFIED: 3 item(s) and 1 custody event(s)."


def test_a_refused_bundle_is_one_line_saying_why(bundle_path: Path, tmp_path: Path) -> None:
    no_manifest = verify_bundle(rebuilt(bundle_path, drop(MANIFEST)))
    assert no_manifest.refused and no_manifest.problems() == {Problem.MISSING_FILE}
    assert format_report(no_manifest) == ("REFUSED: no manifest.json: not a Haven evidence bundle")
    extras = rebuilt(bundle_path, *(add(f"extra/{n}.txt", b"extra") for n in range(7)))
    refused = verify_bundle(extras)
    assert refused.findings[0].detail == (
        "not in the manifest: extra/0.txt, extra/1.txt, extra/2.txt, extra/3.txt, "
        "extra/4.txt and 2 more"
    )
    five = verify_bundle(rebuilt(bundle_path, *(add(f"x/{n}", b"x") for n in range(5))))
    assert five.findings[0].detail == "not in the manifest: x/0, x/1, x/2, x/3, x/4"


def test_key_files_that_are_not_an_ed25519_pem_key_say_why(tmp_path: Path) -> None:
    other_kind = tmp_path / "x25519.pem"
    other_kind.write_bytes(
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError) as wrong_kind:
        load_key(other_kind)
    assert str(wrong_kind.value) == f"{other_kind}: not an Ed25519 public key"

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello\nsecond line\n")
    with pytest.raises(KeyFileError) as unreadable:
        load_key(garbage)
    message = str(unreadable.value)
    assert message.startswith(f"{garbage}: not a public key in PEM form (")
    assert "None" not in message and "\n" not in message


def test_only_the_first_mebibyte_of_a_key_file_is_read(tmp_path: Path) -> None:
    key = pem_public(Ed25519PrivateKey.generate())
    buried = tmp_path / "buried.pem"
    buried.write_bytes(b"# padding\n" * (MiB // 10 + 1) + key)
    with pytest.raises(KeyFileError):
        load_key(buried)
    plain = tmp_path / "plain.pem"
    plain.write_bytes(key)
    assert isinstance(load_key(plain), type(Ed25519PrivateKey.generate().public_key()))


# ---- the timeline must rest on items of this bundle ----------------------------------------


def with_timeline(key: Ed25519PrivateKey, path: Path, entries: object) -> Path:
    timeline = TimelineFiles("the timeline", json.dumps({"entries": entries}).encode())
    write_bundle(replace(build_bundle(key), timeline=timeline), path)
    return path


def timeline_findings(key: Ed25519PrivateKey, path: Path, entries: object) -> list[str]:
    report = verify_bundle(with_timeline(key, path, entries))
    assert not report.refused
    return [str(f) for f in report.findings]


def test_a_timeline_resting_on_this_bundles_items_verifies(
    key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    entries = [{"rests_on": {"item": 2}}, {"rests_on": {"note": 1, "items": [1, 3]}}]
    assert timeline_findings(key, tmp_path / "b.zip", entries) == []


@pytest.mark.parametrize(
    ("rests_on", "listed"),
    [
        ([{"item": 99}], "99"),
        ([{"note": 1, "items": [1, 42]}], "42"),
        ([{"item": 7}, {"items": [8, 9, 10, 11, 12]}], "10, 11, 12, 7, 8"),
    ],
)
def test_a_timeline_resting_on_items_not_here_is_inconsistent(
    key: Ed25519PrivateKey, tmp_path: Path, rests_on: list[object], listed: str
) -> None:
    entries = [{"rests_on": r} for r in rests_on]
    assert timeline_findings(key, tmp_path / "b.zip", entries) == [
        f"timeline: timeline.json rests on items not here: {listed}"
    ]


@pytest.mark.parametrize(
    ("entries", "detail"),
    [
        ([{"time": "x"}], "timeline.json: 'rests_on'"),
        ([{"rests_on": 5}], "timeline.json: argument of type 'int' is not iterable"),
        ([{"rests_on": {"items": 3}}], "timeline.json: 'int' object is not iterable"),
        ([{"rests_on": {"item": []}}], "timeline.json: unhashable type: 'list'"),
    ],
)
def test_a_malformed_timeline_is_a_format_finding(
    key: Ed25519PrivateKey, tmp_path: Path, entries: object, detail: str
) -> None:
    report = verify_bundle(with_timeline(key, tmp_path / "b.zip", entries))
    assert [(f.problem, f.subject, f.detail) for f in report.findings] == [
        (Problem.FORMAT, "timeline", detail)
    ]
