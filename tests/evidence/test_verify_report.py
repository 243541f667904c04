"""What `haven verify` tells its reader about a version 2 bundle: each kind of check it made
(the tree head's signature with the bundle's key and with --key, the C2SP checkpoint and
its key, the signed manifest, every item's hash, commitment and proof, every custody
event's proof, each RFC 3161 timestamp) and how it came out. A reader acts on these
lines; when a check fails, its own line must say FAILED or count the failure, and the
lines of the checks that passed must not change."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from bot.evidence import verify
from bot.evidence.bundle import key_fingerprint
from bot.evidence.verify import (
    KeyFileError,
    Problem,
    format_report,
    load_key,
    load_tsa_roots,
    verify_bundle,
)
from bot.ops.cli import main
from storage.signed_note import parse_vkey
from tests.evidence.test_sealed_bundle import ORIGIN, exported, members, rewritten
from tests.evidence.test_timestamps import TSA_NAME, export, store_with_tsa, with_token
from tests.tsa_rig import TsaServer, running_tsa, stamped_within

__all__ = ["exported"]

SIGNED = "the log key in the bundle"
PROOFS = "inclusion proofs (RFC 9162 and c2sp.org/tlog-proof) to the signed root"
MANIFEST_LINE = (
    "- manifest (case, reason, who exported, every file's SHA-256) signed by the log key"
    " (manifest.note): "
)


def checked(text: str) -> list[str]:
    """The "What was checked:" section, one line per kind of check."""
    lines = text.splitlines()
    start = lines.index("What was checked:") + 1
    return lines[start : lines.index("", start)]


def with_broken_signature(note: bytes) -> bytes:
    """The signed note with one bit of its (last) signature changed, its text intact."""
    text, _, signature_line = note.decode().rstrip("\n").rpartition("\n")
    name, _, encoded = signature_line.rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01
    return f"{text}\n{name} {base64.b64encode(bytes(raw)).decode()}\n".encode()


def manifest_of(bundle: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(members(bundle)["manifest.json"])
    return loaded


def entry(bundle: Path, section: str, number: int) -> dict[str, str]:
    entries = manifest_of(bundle)[section]
    assert isinstance(entries, list)
    (found,) = [e for e in entries if e["number"] == number]
    return dict(found)


def with_bad_tlog_proof(bundle: Path, out: Path, section: str, number: int) -> Path:
    """The bundle with one entry's tlog proof pointing at another leaf's hash path."""
    name = entry(bundle, section, number)["tlog_proof"]
    lines = members(bundle)[name].decode().splitlines()
    # The proof's hashes follow its "index N" line; changing one breaks the path only.
    at = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    raw = bytearray(base64.b64decode(lines[at]))
    raw[0] ^= 0x01
    lines[at] = base64.b64encode(bytes(raw)).decode()
    return rewritten(
        bundle,
        out,
        **{name.replace("/", "__").replace(".", "_dot_"): ("\n".join(lines) + "\n").encode()},
    )


def test_a_genuine_bundle_reports_each_check_it_made(exported: tuple[Path, Path]) -> None:
    bundle, vkey_file = exported
    report = verify_bundle(bundle, load_key(vkey_file))
    text = format_report(report)
    head = report.tree_head
    assert head is not None and report.ok
    verifier = parse_vkey(vkey_file.read_text())
    assert f"Tree head  {head.size} entries, " in text and f"root {head.root.hex()}" in text
    fingerprint = key_fingerprint(verifier.public_key).hex()
    assert f"Log key    SHA-256 fingerprint {fingerprint}" in text.splitlines()
    assert checked(text) == [
        f"- signature of the tree head (sth.sig) with {SIGNED}: ok",
        "- the same with a key obtained apart from the bundle (--key): ok",
        f"- C2SP checkpoint ({ORIGIN}, {head.size} entries) signed by {SIGNED}: ok",
        MANIFEST_LINE + "ok",
        f"- items: SHA-256 as listed 2/2, salted commitment as logged 2/2, {PROOFS} 2/2",
        "- custody events proven in the log: 1/1",
        "- trusted timestamp (RFC 3161): none in this bundle",
    ]
    assert text.splitlines()[-1] == "VERIFIED: 2 item(s) and 1 custody event(s)."


def test_without_key_the_report_says_the_independent_check_was_not_made(
    exported: tuple[Path, Path],
) -> None:
    bundle, _ = exported
    text = format_report(verify_bundle(bundle))
    assert checked(text)[1] == (
        "- the same with a key obtained apart from the bundle (--key): not checked (no --key given)"
    )
    assert text.splitlines()[-1] == (
        "VERIFIED: 2 item(s) and 1 custody event(s). Only the key inside the bundle was used:"
        " compare its fingerprint with the organisation's, or run again with --key."
    )


def test_another_key_fails_the_key_line_and_nothing_else(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, vkey_file = exported
    verifier = parse_vkey(vkey_file.read_text())
    stranger = type(verifier).for_key(ORIGIN, bytes(reversed(verifier.public_key)))
    text = format_report(verify_bundle(bundle, stranger))
    lines = checked(text)
    assert lines[1] == "- the same with a key obtained apart from the bundle (--key): FAILED"
    assert lines[0].endswith(": ok") and lines[2].endswith(": ok") and lines[3].endswith(": ok")
    assert text.splitlines()[-1].startswith("NOT VERIFIED: ")


def test_a_checkpoint_whose_signature_fails_fails_every_tlog_proof(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    forged = rewritten(
        bundle, tmp_path / "cp.zip", checkpoint=with_broken_signature(members(bundle)["checkpoint"])
    )
    report = verify_bundle(forged)
    lines = checked(format_report(report))
    assert lines[2] == f"- C2SP checkpoint (—) signed by {SIGNED}: FAILED"
    assert lines[4] == (
        f"- items: SHA-256 as listed 2/2, salted commitment as logged 2/2, {PROOFS} 0/2"
    )
    assert lines[5] == "- custody events proven in the log: 0/1"
    assert lines[0].endswith(": ok") and lines[3].endswith(": ok")
    assert any(f.subject == "checkpoint" for f in report.findings)


def test_a_manifest_signature_that_fails_is_marked_failed(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    note = with_broken_signature(members(bundle)["manifest.note"])
    forged = rewritten(bundle, tmp_path / "note.zip", manifest_dot_note=note)
    report = verify_bundle(forged)
    text = format_report(report)
    lines = checked(text)
    assert lines[3] == MANIFEST_LINE + "FAILED"
    # The manifest carries what the tree head's signature is trusted for, so it fails too.
    assert lines[0] == f"- signature of the tree head (sth.sig) with {SIGNED}: FAILED"
    assert lines[2].endswith(": ok")
    assert any(
        f.subject == "manifest" and "is not signed by the bundle's key" in f.detail
        for f in report.findings
    )


def test_one_items_failed_proof_is_counted_and_its_row_shown(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    forged = with_bad_tlog_proof(bundle, tmp_path / "proof.zip", "items", 2)
    report = verify_bundle(forged)
    text = format_report(report)
    assert checked(text)[4] == (
        f"- items: SHA-256 as listed 2/2, salted commitment as logged 2/2, {PROOFS} 1/2"
    )
    rows = {
        line.split()[1]: line.split()[2:6] for line in text.splitlines() if line.startswith("item ")
    }
    kind = entry(bundle, "items", 2)["kind"]
    assert rows == {"002": [kind, "ok", "ok", "FAILED"]}  # only the failed item, unasked
    # SHA256SUMS lists the proof file too, so the change is also found there.
    proof = entry(bundle, "items", 2)["tlog_proof"]
    assert sorted(f.subject for f in report.findings) == sorted(["item 002", proof])
    assert text.splitlines()[-1] == "NOT VERIFIED: 2 problem(s)."


def test_a_custody_events_failed_proof_is_counted(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    forged = with_bad_tlog_proof(bundle, tmp_path / "custody.zip", "custody", 1)
    text = format_report(verify_bundle(forged))
    assert checked(text)[5] == "- custody events proven in the log: 0/1"
    assert checked(text)[4].endswith(f"{PROOFS} 2/2")
    assert "custody 001" in text


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    with running_tsa(tmp_path / "tsa") as server:
        yield server


def test_each_timestamp_is_reported_checked_unchecked_failed_or_damaged(
    tsa: TsaServer, tmp_path: Path
) -> None:
    since = dt.datetime.now(dt.UTC)
    _, args = store_with_tsa(tmp_path, tsa.url)
    bundle = export(args, tmp_path / "case-1.zip")
    roots = load_tsa_roots(tsa.authority.ca_file)

    def stamp_line(path: Path, **options: object) -> str:
        (line,) = [
            line
            for line in checked(format_report(verify_bundle(path, **options)))  # type: ignore[arg-type]
            if line.startswith("- trusted timestamp")
        ]
        return line

    checked_line = stamp_line(bundle, tsa_roots=roots)
    assert checked_line.startswith("- trusted timestamp timestamps/01.tsr: ")
    assert stamped_within(checked_line, since)
    assert checked_line.endswith(f"by {TSA_NAME}; signature and certificate: ok")
    assert stamp_line(bundle).endswith(f"by {TSA_NAME}; not checked (no --tsa-ca given)")
    with zipfile.ZipFile(bundle) as archive:
        token = bytearray(archive.read("timestamps/01.tsr"))
    token[-3] ^= 0x01  # inside the signature
    changed = with_token(bundle, tmp_path / "changed.zip", bytes(token))
    assert stamp_line(changed, tsa_roots=roots).endswith("signature and certificate: FAILED")
    damaged = with_token(bundle, tmp_path / "damaged.zip", b"\x30\x03junk")
    assert stamp_line(damaged) == "- trusted timestamp timestamps/01.tsr: damaged"


def test_the_command_prints_the_same_report(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, vkey_file = exported
    capsys.readouterr()
    assert main(["verify", str(bundle), "--key", str(vkey_file)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip("\n") == format_report(verify_bundle(bundle, load_key(vkey_file)))


def test_a_tree_head_signature_that_fails_fails_the_key_line_though_the_seals_hold(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, vkey_file = exported
    signature = bytearray(members(bundle)["sth.sig"])
    signature[0] ^= 0x01
    forged = rewritten(bundle, tmp_path / "sth.zip", sth_dot_sig=bytes(signature))
    report = verify_bundle(forged, load_key(vkey_file))
    assert report.trusted_key_ok is False
    lines = checked(format_report(report))
    assert lines[1] == "- the same with a key obtained apart from the bundle (--key): FAILED"
    assert lines[2].endswith(": ok") and lines[3].endswith(": ok")


# ---- the key and certificate files given on the command line ------------------------------


def key_refusal(read: Callable[[Path], object], path: Path) -> str:
    with pytest.raises(KeyFileError) as caught:
        read(path)
    return str(caught.value)


def test_a_pem_key_file_loads_with_blank_lines_before_it(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    _, vkey_file = exported
    raw = parse_vkey(vkey_file.read_text()).public_key
    pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "key.pem").write_bytes(b"\n\n" + pem)
    loaded = load_key(tmp_path / "key.pem")
    assert isinstance(loaded, Ed25519PublicKey)
    assert loaded.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw


def test_unusable_key_files_are_refused_with_the_file_and_the_reason(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\xff\xfe")
    assert key_refusal(load_key, garbage) == (
        f"{garbage}: not a public key in PEM form nor a verifier key "
        "('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"
    )
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ValueError) as why:
        load_pem_public_key(broken.read_bytes())
    reason = str(why.value).splitlines()[0]
    # the library's reason, cut short to one line by the report
    assert key_refusal(load_key, broken).startswith(
        f"{broken}: not a public key in PEM form ({reason[:40]}"
    )
    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    assert key_refusal(load_key, other) == f"{other}: not an Ed25519 public key"
    missing = tmp_path / "missing.pem"
    assert key_refusal(load_key, missing) == (
        f"{missing}: [Errno 2] No such file or directory: '{missing}'"
    )


def test_a_key_path_that_is_a_pipe_is_refused_rather_than_waited_on(tmp_path: Path) -> None:
    pipe = tmp_path / "key.pem"
    os.mkfifo(pipe)
    assert key_refusal(load_key, pipe) == f"{pipe}: not a regular file"


def test_a_certificate_file_that_is_not_pem_is_refused_with_the_reason(tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"not a certificate")
    with pytest.raises(ValueError) as why:
        x509.load_pem_x509_certificates(roots.read_bytes())
    reason = str(why.value).splitlines()[0]
    assert key_refusal(load_tsa_roots, roots).startswith(
        f"{roots}: not PEM certificates ({reason[:40]}"
    )


@pytest.mark.parametrize(
    ("extra", "listed"),
    [
        (1, "x1.txt"),
        (5, "x1.txt, x2.txt, x3.txt, x4.txt, x5.txt"),
        (6, "x1.txt, x2.txt, x3.txt, x4.txt, x5.txt and 1 more"),
        (8, "x1.txt, x2.txt, x3.txt, x4.txt, x5.txt and 3 more"),
    ],
)
def test_files_the_manifest_does_not_name_refuse_the_bundle_listing_five(
    exported: tuple[Path, Path], tmp_path: Path, extra: int, listed: str
) -> None:
    bundle, _ = exported
    added = {f"x{n}_dot_txt": b"x" for n in range(1, extra + 1)}
    forged = rewritten(bundle, tmp_path / "extra.zip", **added)
    report = verify_bundle(forged)
    assert report.refused and report.path == forged
    (finding,) = report.findings
    assert finding.subject == "bundle"
    assert finding.detail == f"not in the manifest: {listed}"
    assert format_report(report) == f"REFUSED: not in the manifest: {listed}"


def test_the_verbose_report_has_a_row_for_every_item_and_custody_event(
    exported: tuple[Path, Path],
) -> None:
    bundle, _ = exported
    report = verify_bundle(bundle)
    text = format_report(report, verbose=True)
    lines = text.splitlines()
    start = lines.index("What was checked:")
    table = lines[lines.index("", start + 1) + 1 :]
    files = [item.file for item in report.items]
    assert table[:5] == [
        "             kind       hash    commitment  inclusion  file",
        f"item 001     {report.items[0].kind:<11}ok      ok          ok         {files[0]}",
        f"item 002     {report.items[1].kind:<11}ok      ok          ok         {files[1]}",
        "custody 001                                 ok",
        "",
    ]
    assert lines.index("What was checked:") == 6 and lines[5] == ""
    assert lines[0] == f"Bundle     {bundle}"
    assert "item 001" not in format_report(report)


def test_a_failing_custody_event_gets_its_row_without_verbose(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    leaf = bytearray(members(bundle)["custody/001.bin"])
    leaf[-2] ^= 0x01
    forged = rewritten(bundle, tmp_path / "custody.zip", custody__001_dot_bin=bytes(leaf))
    text = format_report(verify_bundle(forged))
    assert "custody 001                                 FAILED" in text.splitlines()
    assert not any(line.startswith("item 00") for line in text.splitlines())


def test_a_broken_checkpoint_is_a_signature_problem_of_the_checkpoint(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    broken = with_broken_signature(members(bundle)["checkpoint"])
    report = verify_bundle(rewritten(bundle, tmp_path / "cp.zip", checkpoint=broken))
    problems = {f.problem for f in report.findings if f.subject == "checkpoint"}
    # its signature fails, and SHA256SUMS gives the file another hash
    assert problems == {Problem.SIGNATURE, Problem.CONTENT_HASH}


def test_haven_verify_shows_item_rows_only_when_asked_and_reports_progress(
    exported: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, _ = exported
    stages: list[str] = []
    assert verify.run(bundle, None, progress=lambda stage, *_: stages.append(stage)) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("VERIFIED: ") and "item 001" not in out
    assert stages


def test_a_manifest_signature_that_fails_with_the_key_given_fails_the_key_line(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, vkey_file = exported
    note = with_broken_signature(members(bundle)["manifest.note"])
    forged = rewritten(bundle, tmp_path / "note.zip", manifest_dot_note=note)
    report = verify_bundle(forged, load_key(vkey_file))
    assert report.trusted_key_ok is False
    assert checked(format_report(report))[1] == (
        "- the same with a key obtained apart from the bundle (--key): FAILED"
    )


def test_a_log_origin_no_key_could_be_named_refuses_the_bundle(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    manifest = json.loads(members(bundle)["manifest.json"])
    manifest["log"]["origin"] = "haven example"
    forged = rewritten(
        bundle, tmp_path / "origin.zip", manifest_dot_json=json.dumps(manifest).encode()
    )
    report = verify_bundle(forged)
    assert report.refused and report.problems() == {Problem.FORMAT}
    assert report.findings[0].detail == (
        "manifest.json: the log's origin: a key name must be non-empty, without spaces or '+'"
    )


def test_a_key_file_is_read_up_to_one_mebibyte_only(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    _, vkey_file = exported
    vkey = vkey_file.read_bytes()
    near = tmp_path / "near.vkey"
    near.write_bytes(b"\n" * ((1 << 20) - len(vkey)) + vkey)
    assert load_key(near) == parse_vkey(vkey.decode())
    beyond = tmp_path / "beyond.vkey"
    beyond.write_bytes(b"\n" * (1 << 20) + vkey)
    assert key_refusal(load_key, beyond) == (
        f"{beyond}: not a public key in PEM form nor a verifier key "
        "(a verifier key is NAME+KEYID+KEY)"
    )


@pytest.mark.parametrize(
    ("section", "line", "counted"),
    [
        ("items", 4, f"{PROOFS} 1/2"),
        ("custody", 5, "- custody events proven in the log: 0/1"),
    ],
)
def test_an_entrys_failed_rfc_9162_proof_fails_it_though_its_tlog_proof_holds(
    exported: tuple[Path, Path], tmp_path: Path, section: str, line: int, counted: str
) -> None:
    bundle, _ = exported
    name = entry(bundle, section, 1)["proof"]
    proof = json.loads(members(bundle)[name])
    first = bytearray(bytes.fromhex(proof["audit_path"][0]))
    first[0] ^= 0x01
    proof["audit_path"][0] = first.hex()
    forged = rewritten(
        bundle,
        tmp_path / "proof.zip",
        **{name.replace("/", "__").replace(".", "_dot_"): json.dumps(proof).encode()},
    )
    report = verify_bundle(forged)
    items_ok = [item.inclusion_ok for item in report.items]
    custody_ok = [event.inclusion_ok for event in report.custody]
    assert (items_ok if section == "items" else custody_ok)[0] is False
    assert checked(format_report(report))[line].endswith(counted)


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    # A refusal is one line saying why, even when a library raises an error without words.
    assert verify._first_line(OSError()) == "OSError"


def test_a_changed_item_in_a_sealed_bundle_differs_from_its_sha256sums_line(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    name = entry(bundle, "items", 1)["file"]
    data = members(bundle)[name]
    changed = data[:-1] + bytes([data[-1] ^ 1])
    forged = rewritten(
        bundle,
        tmp_path / "item.zip",
        **{name.replace("/", "__").replace(".", "_dot_"): changed},
    )
    findings = [f for f in verify_bundle(forged).findings if f.subject == "item 001"]
    assert [f.problem for f in findings] == [
        Problem.CONTENT_HASH,
        Problem.CONTENT_HASH,
        Problem.COMMITMENT,
    ]
    assert [str(f) for f in findings] == [
        f"item 001: {name} is not the file listed",
        f"item 001: {name} differs from SHA256SUMS",
        'item 001: SHA-256("haven-content-v2\\n" || salt || SHA-256(content))'
        " is not the logged commitment",
    ]


def test_a_manifest_giving_an_item_another_time_than_its_log_entry_names_the_item(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle, _ = exported
    manifest = manifest_of(bundle)
    items = manifest["items"]
    assert isinstance(items, list)
    items[0]["received_at"] = "2020-01-01T00:00:00.000000Z"
    forged = rewritten(
        bundle, tmp_path / "time.zip", manifest_dot_json=json.dumps(manifest).encode()
    )
    words = [str(f) for f in verify_bundle(forged).findings if f.subject == "item 001"]
    assert "item 001: the manifest's received_at differ from the log" in words
