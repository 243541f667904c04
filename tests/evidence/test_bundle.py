"""Evidence bundles: written from a real Merkle log and Ed25519 key, checked offline.

A genuine bundle verifies; every kind of tampering is caught with the finding it deserves;
hostile archives are refused without a byte leaving memory; the README's hand-check
commands give, on this machine, exactly the output the README promises.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import shutil
import stat
import string
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from bot.content.playbook import LOCALES
from bot.evidence.bundle import (
    MANIFEST,
    PUBLIC_KEY,
    STH_BIN,
    STH_JSON,
    STH_SIG,
    Bundle,
    BundleItem,
    CustodyEntry,
    Manifest,
    SignedTreeHead,
    key_fingerprint,
)
from bot.evidence.bundle_readme import readme_templates, render_readme
from bot.evidence.bundle_writer import write_bundle
from bot.evidence.filenames import MAX_NAME_BYTES, sanitise_filename
from bot.evidence.safezip import ZipLimits
from bot.evidence.verify import VERIFY_STAGE, Problem, format_report, verify_bundle
from bot.ops.cli import main
from storage.leaves import (
    COMMITMENT_CONTENT,
    COMMITMENT_CONTENT_HASH,
    SALT_SIZE,
    CustodyEvent,
    EvidenceLeaf,
    canonical_json,
    content_commitment,
    hash_commitment,
)
from storage.merkle import MemoryTree, TreeHead, sign_tree_head

EXPORTED_AT = dt.datetime(2025, 5, 1, 8, 30, tzinfo=dt.UTC)
EVIDENCE = (
    ("photo", "it's 截图 (1).png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4),
    ("text", "message.txt", "不给钱就发到你们公司群".encode()),
    ("voice", "voice note.ogg", b"OggS" + secrets.token_bytes(3000)),
)
ITEM_1 = "items/001-it's 截图 (1).png"
Members = dict[str, bytes]
Change = Callable[[bytes], bytes]
Mutator = Callable[[Members], None]


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def pem_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def evidence_leaf(
    number: int, kind: str, salt: bytes, content: bytes, claimed_sha256: bytes | None = None
) -> bytes:
    """Leaf data exactly as intake writes it (storage.leaves), so the contract is tested:
    item 1 as it wrote it before issue 21 (commitment scheme 1, which old items keep),
    the others as it writes them now (scheme 2). `claimed_sha256` adds the optional plain
    SHA-256 the format allows and Haven's intake leaves out (another tool's leaves)."""
    if number == 1:
        scheme, commitment = COMMITMENT_CONTENT, content_commitment(salt, content)
    else:
        digest = hashlib.sha256(content).digest()
        scheme, commitment = COMMITMENT_CONTENT_HASH, hash_commitment(salt, digest)
    leaf = EvidenceLeaf(
        case_id=7,
        item_no=number,
        kind=kind,
        received_at=EXPORTED_AT - dt.timedelta(days=2),
        original_date=None,
        size=len(content),
        mime_type="application/octet-stream",
        origin_kind="",
        origin_commitment="",
        content_commitment=commitment,
        commitment_scheme=scheme,
    ).to_bytes()
    if claimed_sha256 is None:
        return leaf
    return canonical_json({**json.loads(leaf), "sha256": claimed_sha256.hex()})


def build_bundle(
    key: Ed25519PrivateKey, locale: str = "en", claimed: Mapping[int, bytes] | None = None
) -> Bundle:
    """Evidence interleaved with other cases' leaves, a custody event, later appends.
    `claimed`: item number → the SHA-256 its leaf claims (none by default, as intake)."""
    tree = MemoryTree()
    for other in range(5):
        tree.append(b"another case %d" % other)
    staged = []
    for number, (kind, name, content) in enumerate(EVIDENCE, start=1):
        salt = secrets.token_bytes(SALT_SIZE)
        leaf = evidence_leaf(number, kind, salt, content, (claimed or {}).get(number))
        staged.append((number, kind, name, content, salt, leaf, tree.append(leaf)))
        tree.append(b"noise %d" % number)
    custody_leaf = CustodyEvent("operator:alice", "export", EXPORTED_AT, 7).to_bytes()
    custody_index = tree.append(custody_leaf)
    head = TreeHead(tree.size, tree.root(), 1_746_088_200_000)
    items = tuple(
        BundleItem(
            number=number,
            kind=kind,
            name=sanitise_filename(name),
            content=content,
            salt=salt,
            leaf_data=leaf,
            leaf_index=index,
            proof=tuple(tree.inclusion_proof(index, tree.size)),
        )
        for number, kind, name, content, salt, leaf, index in staged
    )
    custody = CustodyEntry(
        custody_leaf, custody_index, tuple(tree.inclusion_proof(custody_index, tree.size))
    )
    return Bundle(
        case_id="7",
        locale=locale,
        exported_at=EXPORTED_AT,
        exported_by="operator:alice",
        reason="requested by the victim's lawyer",
        tree_head=SignedTreeHead(head, sign_tree_head(head, key)),
        log_key=raw_public(key),
        items=items,
        custody=(custody,),
    )


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def bundle_path(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "bundle.zip"
    write_bundle(build_bundle(key, "zh-CN"), path)
    return path


def members_of(path: Path) -> Members:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_members(path: Path, members: Members) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def rebuilt(path: Path, *mutators: Mutator) -> Path:
    """A copy of the bundle at ``path`` with its members changed as a forger would."""
    members = members_of(path)
    for mutate in mutators:
        mutate(members)
    return write_members(path.with_name("changed.zip"), members)


def change(name: str, how: Change) -> Mutator:
    def mutate(members: Members) -> None:
        members[name] = how(members[name])

    return mutate


def add(name: str, data: bytes) -> Mutator:
    return lambda members: members.__setitem__(name, data)


def drop(name: str) -> Mutator:
    return lambda members: members.__delitem__(name)


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def edit_json(edit: Callable[[dict[str, Any]], object]) -> Change:
    def how(data: bytes) -> bytes:
        value = json.loads(data)
        edit(value)
        return json.dumps(value, ensure_ascii=False).encode()

    return how


def setting(key: str, value: object) -> Change:
    return edit_json(lambda fields: fields.__setitem__(key, value))


def flip_first_proof_hash(fields: dict[str, Any]) -> None:
    fields["audit_path"][0] = flip_last_byte(bytes.fromhex(fields["audit_path"][0])).hex()


def forged_head(transform: Callable[[TreeHead], TreeHead]) -> Mutator:
    """A different tree head, written consistently into sth.bin and sth.json."""

    def mutate(members: Members) -> None:
        head = transform(TreeHead.from_bytes(members[STH_BIN]))
        members[STH_BIN] = head.to_bytes()
        readable = {"tree_size": head.size, "root_hash": head.root.hex()}
        readable["timestamp_ms"] = head.timestamp_ms
        members[STH_JSON] = edit_json(lambda fields: fields.update(readable))(members[STH_JSON])

    return mutate


def later(head: TreeHead) -> TreeHead:
    return TreeHead(head.size, head.root, head.timestamp_ms + 1)


def other_root(head: TreeHead) -> TreeHead:
    return TreeHead(head.size, flip_last_byte(head.root), head.timestamp_ms)


# ---- a genuine bundle -------------------------------------------------------------------


def test_a_genuine_bundle_verifies_with_its_own_key_and_an_independent_one(
    bundle_path: Path, key: Ed25519PrivateKey
) -> None:
    report = verify_bundle(bundle_path, key.public_key())
    assert report.ok, report.findings
    assert report.signature_ok and report.trusted_key_ok
    assert [item.number for item in report.items] == [1, 2, 3]
    assert all(i.hash_ok and i.commitment_ok and i.inclusion_ok for i in report.items)
    assert [entry.inclusion_ok for entry in report.custody] == [True]
    assert report.manifest is not None and report.manifest.case_id == "7"


def test_the_archive_holds_exactly_the_documented_files(bundle_path: Path) -> None:
    names = set(members_of(bundle_path))
    assert names == {
        "README.txt",
        MANIFEST,
        STH_BIN,
        STH_JSON,
        STH_SIG,
        PUBLIC_KEY,
        ITEM_1,
        "items/002-message.txt",
        "items/003-voice note.ogg",
        *(f"leaves/00{n}.bin" for n in (1, 2, 3)),
        *(f"proofs/00{n}.json" for n in (1, 2, 3)),
        "custody/001.bin",
        "custody/001.json",
    }
    assert members_of(bundle_path)[ITEM_1] == EVIDENCE[0][2]


def test_manifest_round_trips_and_names_the_key(key: Ed25519PrivateKey) -> None:
    bundle = build_bundle(key)
    manifest = bundle.manifest()
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.key_fingerprint == key_fingerprint(raw_public(key))
    assert manifest.items[0].sha256 == hashlib.sha256(EVIDENCE[0][2]).digest()


def test_the_bundle_file_is_private_and_written_whole(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    path = tmp_path / "out.zip"
    path.write_bytes(b"an older export")
    write_bundle(build_bundle(key), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert verify_bundle(path).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zip"]


# ---- tampering --------------------------------------------------------------------------

FORGED_SHA256 = hashlib.sha256(b"forged").hexdigest()
TAMPERING: dict[str, tuple[tuple[Mutator, ...], set[Problem]]] = {
    "a changed byte in an item": (
        (change(ITEM_1, flip_last_byte),),
        {Problem.CONTENT_HASH, Problem.COMMITMENT},
    ),
    "a changed leaf": ((change("leaves/001.bin", setting("case", 8)),), {Problem.INCLUSION}),
    "a leaf claiming another size": (
        (change("leaves/002.bin", setting("size", 1)),),
        {Problem.CONTENT_HASH, Problem.INCLUSION},
    ),
    "a leaf rewritten to match a changed item": (
        (
            change(ITEM_1, flip_last_byte),
            change("leaves/001.bin", setting("sha256", FORGED_SHA256)),
        ),
        {Problem.CONTENT_HASH, Problem.COMMITMENT, Problem.INCLUSION},
    ),
    "a changed proof hash": (
        (change("proofs/002.json", edit_json(flip_first_proof_hash)),),
        {Problem.INCLUSION},
    ),
    "a proof for another leaf": (
        (change("proofs/002.json", setting("leaf_index", 0)),),
        {Problem.INCONSISTENT},
    ),
    "a changed custody event": (
        (change("custody/001.bin", flip_last_byte),),
        {Problem.INCLUSION},
    ),
    "a manifest listing another SHA-256": (
        (change(MANIFEST, edit_json(lambda m: m["items"][1].update(sha256=FORGED_SHA256))),),
        {Problem.CONTENT_HASH},
    ),
    "a changed salt": (
        (change(MANIFEST, edit_json(lambda m: m["items"][0].update(salt="ab" * 32))),),
        {Problem.COMMITMENT},
    ),
    "a changed tree head time": ((forged_head(later),), {Problem.SIGNATURE, Problem.TRUSTED_KEY}),
    "a changed tree head root": (
        (forged_head(other_root),),
        {Problem.SIGNATURE, Problem.TRUSTED_KEY, Problem.INCLUSION},
    ),
    "sth.json alone changed": (
        (change(STH_JSON, setting("tree_size", 3)),),
        {Problem.INCONSISTENT},
    ),
    "a changed signature": (
        (change(STH_SIG, flip_last_byte),),
        {Problem.SIGNATURE, Problem.TRUSTED_KEY, Problem.INCONSISTENT},
    ),
    "another key's fingerprint": (
        (change(MANIFEST, edit_json(lambda m: m["log_public_key"].update(sha256="0" * 64))),),
        {Problem.INCONSISTENT},
    ),
}


@pytest.mark.parametrize("case", TAMPERING, ids=list(TAMPERING))
def test_tampering_is_found(bundle_path: Path, key: Ed25519PrivateKey, case: str) -> None:
    mutators, expected = TAMPERING[case]
    report = verify_bundle(rebuilt(bundle_path, *mutators), key.public_key())
    assert not report.refused, report.findings
    assert report.problems() == expected, [str(f) for f in report.findings]
    assert not report.ok


def test_a_tampered_item_is_named_and_the_others_still_pass(bundle_path: Path) -> None:
    report = verify_bundle(rebuilt(bundle_path, change(ITEM_1, flip_last_byte)))
    first, *others = report.items
    assert (first.hash_ok, first.commitment_ok, first.inclusion_ok) == (False, False, True)
    assert all(item.hash_ok and item.commitment_ok for item in others)
    assert {finding.subject for finding in report.findings} == {"item 001"}


def test_a_signed_leaf_claiming_the_item_s_own_sha256_verifies(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    claimed = {
        number: hashlib.sha256(content).digest()
        for number, (_, _, content) in enumerate(EVIDENCE, 1)
    }
    path = tmp_path / "claims.zip"
    write_bundle(build_bundle(key, claimed=claimed), path)
    report = verify_bundle(path, key.public_key())
    assert report.ok, [str(f) for f in report.findings]
    assert [item.hash_ok for item in report.items] == [True] * len(EVIDENCE)


def test_a_signed_leaf_claiming_another_sha256_fails_that_item_s_hash(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """The log itself (signed, proofs sound) says the file is other than the one listed."""
    path = tmp_path / "claims.zip"
    write_bundle(build_bundle(key, claimed={2: hashlib.sha256(b"other").digest()}), path)
    report = verify_bundle(path, key.public_key())
    second = report.items[1]
    assert (second.hash_ok, second.commitment_ok, second.inclusion_ok) == (False, True, True)
    assert [str(f) for f in report.findings] == ["item 002: the log entry gives another SHA-256"]
    assert all(item.hash_ok for item in report.items if item.number != 2)
    assert not report.ok


def test_a_wrong_key_fails_the_independent_check_only(bundle_path: Path) -> None:
    report = verify_bundle(bundle_path, Ed25519PrivateKey.generate().public_key())
    assert report.signature_ok and report.trusted_key_ok is False
    assert report.problems() == {Problem.TRUSTED_KEY}


def test_a_bundle_re_signed_with_a_forgers_key_is_caught_only_by_key(
    bundle_path: Path, key: Ed25519PrivateKey
) -> None:
    """Whoever swaps the key, its fingerprint and the signature makes a consistent bundle:
    only a key obtained independently tells it apart."""
    forger = Ed25519PrivateKey.generate()
    signature = sign_tree_head(TreeHead.from_bytes(members_of(bundle_path)[STH_BIN]), forger)
    fingerprint = key_fingerprint(raw_public(forger)).hex()
    forged = rebuilt(
        bundle_path,
        add(STH_SIG, signature),
        change(STH_JSON, setting("signature", signature.hex())),
        add(PUBLIC_KEY, pem_public(forger)),
        change(MANIFEST, edit_json(lambda m: m["log_public_key"].update(sha256=fingerprint))),
    )
    assert verify_bundle(forged).ok
    assert verify_bundle(forged, key.public_key()).problems() == {Problem.TRUSTED_KEY}


# What the report says, word for word, about some of the tampering above: whoever reads it
# (a court's expert) learns which entry failed and why.
TAMPERING_WORDS: dict[str, list[str]] = {
    "a leaf rewritten to match a changed item": [
        f"item 001: {ITEM_1} is not the file listed",
        "item 001: proofs/001.json proves another log entry",
        "item 001: the log entry gives another SHA-256",
        "item 001: SHA-256(salt || content) is not the logged commitment",
    ],
    "a leaf claiming another size": [
        "item 002: proofs/002.json proves another log entry",
        "item 002: the log entry gives 1 bytes, the file has 33",
    ],
    "a changed signature": [
        f"tree head: {STH_JSON} differs from {STH_BIN}/{STH_SIG}",
        f"tree head: {STH_SIG} does not verify with {PUBLIC_KEY}",
        f"tree head: {STH_SIG} does not verify with the --key key",
    ],
}


@pytest.mark.parametrize("case", TAMPERING_WORDS, ids=list(TAMPERING_WORDS))
def test_each_finding_names_its_entry_and_says_what_failed(
    bundle_path: Path, key: Ed25519PrivateKey, case: str
) -> None:
    mutators, _ = TAMPERING[case]
    report = verify_bundle(rebuilt(bundle_path, *mutators), key.public_key())
    assert [str(finding) for finding in report.findings] == TAMPERING_WORDS[case]


# ---- what each failed check says --------------------------------------------------------

# A proof or leaf that fails: the finding names the entry, the file and why, and only that
# entry's check fails. {index} is item 2's leaf index, {size} the signed tree's size.
ENTRY_FAILURES: dict[str, tuple[Mutator, str, Problem, str]] = {
    "a proof that is not JSON": (
        change("proofs/002.json", lambda _: b"{nope"),
        "item 002",
        Problem.FORMAT,
        "proofs/002.json: not valid JSON (Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1))",
    ),
    "a proof for another leaf": (
        change("proofs/002.json", setting("leaf_index", 0)),
        "item 002",
        Problem.INCONSISTENT,
        "proofs/002.json is for leaf 0 of {size}, not leaf {index} of the signed {size}",
    ),
    "a proof of another entry": (
        change("proofs/002.json", setting("leaf_hash", "00" * 32)),
        "item 002",
        Problem.INCLUSION,
        "proofs/002.json proves another log entry",
    ),
    "a changed proof hash": (
        change("proofs/002.json", edit_json(flip_first_proof_hash)),
        "item 002",
        Problem.INCLUSION,
        "the proof does not lead to the signed root",
    ),
    "a custody event's changed proof hash": (
        change("custody/001.json", edit_json(flip_first_proof_hash)),
        "custody 001",
        Problem.INCLUSION,
        "the proof does not lead to the signed root",
    ),
}


@pytest.mark.parametrize("case", ENTRY_FAILURES, ids=list(ENTRY_FAILURES))
def test_a_failed_proof_is_named_with_its_file_and_fails_its_entry_only(
    bundle_path: Path, case: str
) -> None:
    mutate, subject, problem, detail = ENTRY_FAILURES[case]
    members = members_of(bundle_path)
    index = json.loads(members[MANIFEST])["items"][1]["leaf_index"]
    size = TreeHead.from_bytes(members[STH_BIN]).size
    report = verify_bundle(rebuilt(bundle_path, mutate))
    (finding,) = report.findings
    assert (finding.problem, finding.subject) == (problem, subject)
    assert finding.detail == detail.format(index=index, size=size)
    failed = [f"item {i.number:03d}" for i in report.items if not i.inclusion_ok]
    failed += [f"custody {c.number:03d}" for c in report.custody if not c.inclusion_ok]
    assert failed == [subject]
    assert all(i.hash_ok and i.commitment_ok for i in report.items)


def test_a_leaf_this_haven_cannot_read_fails_its_commitment_and_proof(
    bundle_path: Path,
) -> None:
    report = verify_bundle(rebuilt(bundle_path, change("leaves/001.bin", setting("v", 9))))
    assert [(f.problem, f.subject, f.detail) for f in report.findings] == [
        (
            Problem.FORMAT,
            "item 001",
            "leaves/001.bin: commitment scheme 9 is not one this Haven reads",
        ),
        (Problem.INCLUSION, "item 001", "proofs/001.json proves another log entry"),
    ]
    first = report.items[0]
    # The file is still the one listed; what its entry commits to cannot be read.
    assert (first.hash_ok, first.commitment_ok, first.inclusion_ok) == (True, False, False)


def test_a_log_key_that_is_unusable_refuses_the_bundle_saying_why(bundle_path: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    ec_pem = ec_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    refusals = {
        b"junk": (
            f"{PUBLIC_KEY}: Unable to load PEM file. See "
            "https://cryptography.io/en/latest/faq/#why-can-t-i-import-my-pem-file "
            "for more details. MalformedFraming"
        ),
        ec_pem: f"{PUBLIC_KEY} is not an Ed25519 public key",
    }
    for pem, detail in refusals.items():
        report = verify_bundle(rebuilt(bundle_path, add(PUBLIC_KEY, pem)))
        assert report.refused and report.problems() == {Problem.FORMAT}
        assert report.findings[0].detail == detail


def test_a_manifest_naming_another_key_is_a_finding_about_the_log_key(
    bundle_path: Path,
) -> None:
    forged = rebuilt(
        bundle_path,
        change(MANIFEST, edit_json(lambda m: m["log_public_key"].update(sha256="0" * 64))),
    )
    (finding,) = verify_bundle(forged).findings
    assert str(finding) == f"log key: {MANIFEST} gives another key's fingerprint"


def test_progress_counts_the_items_checked_out_of_all(bundle_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    verify_bundle(bundle_path, progress=lambda *step: seen.append(step))
    assert seen == [(VERIFY_STAGE, done, 3) for done in (1, 2, 3)]


# ---- refused archives -------------------------------------------------------------------


def with_member(info: zipfile.ZipInfo, data: bytes = b"x") -> Callable[[Path], Path]:
    """The bundle plus one member written exactly as ``info`` describes it."""

    def make(path: Path) -> Path:
        out = rebuilt(path)
        with zipfile.ZipFile(out, "a") as archive:
            archive.writestr(info, data)
        return out

    return make


def members_changed(*mutators: Mutator) -> Callable[[Path], Path]:
    return lambda path: rebuilt(path, *mutators)


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def encrypted(path: Path) -> Path:
    """The bundle plus a member flagged as encrypted (zipfile cannot write one itself)."""
    out = with_member(zipfile.ZipInfo("items/000-secret"))(path)
    data = bytearray(out.read_bytes())
    data[data.rfind(b"PK\x03\x04") + 6] |= 0x1  # general purpose flags, local header
    data[data.rfind(b"PK\x01\x02") + 8] |= 0x1  # and central directory
    out.write_bytes(bytes(data))
    return out


def deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def raw_bytes(make: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        out = path.with_name("raw.zip")
        out.write_bytes(make(path.read_bytes()))
        return out

    return write


def garbage(_: bytes) -> bytes:
    return b"PK\x03\x04 this is not really a zip" + secrets.token_bytes(500)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupted(data: bytes) -> bytes:
    """A byte of a stored item flipped inside the archive itself: its CRC no longer holds."""
    at = data.find(EVIDENCE[0][2]) + 10
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def renamed_item(name: str) -> Callable[[Path], Path]:
    """Item 1 under another name, in the archive and in the manifest alike."""

    def rename(members: Members) -> None:
        members[f"items/001-{name}"] = members.pop(ITEM_1)

    entry = {"name": name, "file": f"items/001-{name}"}
    return members_changed(
        rename, change(MANIFEST, edit_json(lambda m: m["items"][0].update(entry)))
    )


REFUSALS: dict[str, tuple[Callable[[Path], Path], Problem]] = {
    "an extra file": (members_changed(add("notes.txt", b"hello")), Problem.EXTRA_FILE),
    "a directory entry": (members_changed(add("items/", b"")), Problem.EXTRA_FILE),
    "a missing proof": (members_changed(drop("proofs/002.json")), Problem.MISSING_FILE),
    "a missing item": (members_changed(drop(ITEM_1)), Problem.MISSING_FILE),
    "no manifest": (members_changed(drop(MANIFEST)), Problem.MISSING_FILE),
    "a ../ path": (with_member(zipfile.ZipInfo("../escaped.txt")), Problem.UNSAFE),
    "a nested ../ path": (with_member(zipfile.ZipInfo("items/../../x")), Problem.UNSAFE),
    "an absolute path": (with_member(zipfile.ZipInfo("/tmp/haven-x")), Problem.UNSAFE),
    "a backslash path": (with_member(zipfile.ZipInfo("..\\x")), Problem.UNSAFE),
    "a drive letter": (with_member(zipfile.ZipInfo("C:x")), Problem.UNSAFE),
    "a symlink": (with_member(symlink("items/000-link"), b"/etc/passwd"), Problem.UNSAFE),
    "an encrypted member": (encrypted, Problem.UNSAFE),
    "a duplicate name": (with_member(zipfile.ZipInfo(MANIFEST), b"{}"), Problem.UNSAFE),
    "a decompression bomb": (
        with_member(deflated("items/000-zeros"), bytes(30 * 1024 * 1024)),
        Problem.TOO_LARGE,
    ),
    "garbage": (raw_bytes(garbage), Problem.UNREADABLE),
    "a truncated archive": (raw_bytes(truncated), Problem.UNREADABLE),
    "a corrupted member": (raw_bytes(corrupted), Problem.UNREADABLE),
    "a manifest that is not JSON": (
        members_changed(add(MANIFEST, b"{nope")),
        Problem.FORMAT,
    ),
    "a tree head from beyond the year 9999": (
        members_changed(forged_head(lambda head: TreeHead(head.size, head.root, 2**64 - 1))),
        Problem.FORMAT,
    ),
    "an export time that overflows": (
        members_changed(change(MANIFEST, setting("exported_at", "0001-01-01T00:00:00+01:00"))),
        Problem.FORMAT,
    ),
    "a bidi-spoofed name": (renamed_item("photo\u202egnp.exe"), Problem.UNSAFE),
    "a name that is not sanitised": (renamed_item("photo:1.png"), Problem.FORMAT),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_hostile_or_broken_archives_are_refused_with_one_line(
    bundle_path: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make, problem = REFUSALS[case]
    path = make(bundle_path)
    monkeypatch.chdir(path.parent)
    before = sorted(path.parent.parent.rglob("*"))
    report = verify_bundle(path)
    assert report.refused and report.problems() == {problem}, report.findings
    assert "\n" not in report.findings[0].detail
    assert sorted(path.parent.parent.rglob("*")) == before, "verify wrote to disk"


REFUSAL_WORDS = {
    "garbage": "not a readable zip archive: File is not a zip file",
    "a manifest that is not JSON": (
        f"{MANIFEST}: not valid JSON (Expecting property name enclosed in double quotes:"
        " line 1 column 2 (char 1))"
    ),
    "an extra file": "not in the manifest: notes.txt",
    "a missing proof": "missing from the bundle: proofs/002.json",
    "no manifest": f"no {MANIFEST}: not a Haven evidence bundle",
    "a tree head from beyond the year 9999": (
        f"{STH_BIN}: the tree head's timestamp is past the year 9999"
    ),
}


@pytest.mark.parametrize("case", REFUSAL_WORDS, ids=list(REFUSAL_WORDS))
def test_a_refusal_says_why_in_one_line(bundle_path: Path, case: str) -> None:
    make, _ = REFUSALS[case]
    path = make(bundle_path)
    report = verify_bundle(path)
    assert report.path == path
    (finding,) = report.findings
    assert (finding.subject, finding.detail) == ("bundle", REFUSAL_WORDS[case])


def test_size_caps_apply_in_total_and_per_member(bundle_path: Path) -> None:
    for limits in (
        ZipLimits(max_total_bytes=2000),
        ZipLimits(max_member_bytes=1024),
        ZipLimits(max_archive_bytes=100),
        ZipLimits(max_members=5),
    ):
        assert verify_bundle(bundle_path, limits=limits).problems() == {Problem.TOO_LARGE}


# ---- the command line -------------------------------------------------------------------


def test_cli_exits_zero_only_when_everything_verifies(
    bundle_path: Path, key: Ed25519PrivateKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good_key = tmp_path / "log.pem"
    good_key.write_bytes(pem_public(key))
    wrong_key = tmp_path / "wrong.pem"
    wrong_key.write_bytes(pem_public(Ed25519PrivateKey.generate()))

    assert main(["verify", str(bundle_path), "--key", str(good_key)]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out and "NOT VERIFIED" not in out
    assert main(["verify", str(bundle_path), "--verbose"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"item 002\s+text\s+ok\s+ok\s+ok\s+items/002-message.txt", out)

    assert main(["verify", str(bundle_path)]) == 0
    assert "run again with --key" in capsys.readouterr().out

    assert main(["verify", str(bundle_path), "--key", str(wrong_key)]) == 1
    out = capsys.readouterr().out
    assert "NOT VERIFIED" in out and "does not verify with the --key key" in out

    tampered_path = rebuilt(bundle_path, change(ITEM_1, flip_last_byte))
    assert main(["verify", str(tampered_path)]) == 1
    assert "item 001: items/001-it's 截图 (1).png is not the file listed" in capsys.readouterr().out


def test_cli_refuses_unreadable_input_with_one_line(
    bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(raw_bytes(garbage)(bundle_path))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("haven verify: ") and "not a readable zip" in err
    assert err.count("\n") == 1

    assert main(["verify", str(tmp_path / "absent.zip")]) == 1
    assert "No such file" in capsys.readouterr().err

    not_a_key = tmp_path / "key.pem"
    not_a_key.write_text("hello")
    assert main(["verify", str(bundle_path), "--key", str(not_a_key)]) == 2
    assert "not a public key in PEM form" in capsys.readouterr().err


def test_report_escapes_control_characters_from_the_manifest(bundle_path: Path) -> None:
    reason = "ok\x1b[2J\x1b]0;pwned\x07"
    report = verify_bundle(rebuilt(bundle_path, change(MANIFEST, setting("reason", reason))))
    assert report.ok
    text = format_report(report)
    assert "\x1b" not in text and "\\u001b[2J" in text


# ---- README -----------------------------------------------------------------------------


def test_readme_is_in_the_cases_language_and_in_english(key: Ed25519PrivateKey) -> None:
    zh = build_bundle(key, "zh-CN")
    text = render_readme(zh, zh.manifest())
    assert text.index("Haven 证据包") < text.index("HAVEN EVIDENCE BUNDLE")
    assert "如何核验" in text and "How to check it" in text
    en = build_bundle(key, "en")
    text = render_readme(en, en.manifest())
    assert text.count("HAVEN EVIDENCE BUNDLE") == 1 and "证据包" not in text


def test_readme_keeps_free_text_on_one_line(key: Ed25519PrivateKey) -> None:
    bundle = build_bundle(key)
    bundle = replace(bundle, reason="court\n$ rm -rf ~\nSignature Verified")
    text = render_readme(bundle, bundle.manifest())
    assert "Reason given: court $ rm -rf ~ Signature Verified" in text
    assert "$ rm" not in [line[:4] for line in text.splitlines()]


def test_readme_templates_agree_across_locales() -> None:
    templates = readme_templates()
    assert set(templates) == set(LOCALES)

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    reference = fields(templates["en"])
    for locale, text in templates.items():
        assert fields(text) == reference, locale
        for command in (
            "openssl pkeyutl -verify -pubin -inkey log-public-key.pem -rawin -in sth.bin "
            "-sigfile sth.sig",
            "openssl pkey -pubin -in log-public-key.pem -outform DER | tail -c 32 | sha256sum",
            "printf '\\000' | cat - leaves/NNN.bin | sha256sum",
        ):
            assert command in text, (locale, command)


HAND_TOOLS = ("sh", "openssl", "sha256sum", "xxd", "tail", "cat", "printf", "cut")


@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in HAND_TOOLS),
    reason="needs sh, openssl, sha256sum and xxd",
)
def test_readme_commands_give_the_promised_output(bundle_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(bundle_path) as archive:  # our own bundle: safe to extract
        archive.extractall(folder)
    lines = (folder / "README.txt").read_text(encoding="utf-8").splitlines()
    checks = [(line[2:], lines[i + 1]) for i, line in enumerate(lines) if line.startswith("$ ")]
    assert len(checks) == 2 + 3 * len(EVIDENCE) + 1
    for command, expected in checks:
        result = subprocess.run(
            ["sh", "-c", command], cwd=folder, capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, (command, result.stderr)
        output = result.stdout.strip()
        if "sha256sum" in command:
            output = output.split()[0]
        assert output == expected, command


# ---- names ------------------------------------------------------------------------------

HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from(
        [
            *"aé截图./\\:*?<>| \t\n\x00\x1b-_",
            *("\u202e", "\u200b", "\ufeff", "\u3000", "\u00a0", "\u0301", "\ud800", "\ue000"),
        ]
    )
    | st.characters(),
    max_size=300,
)


@given(HOSTILE_TEXT)
def test_sanitised_names_are_safe_and_stable(name: str) -> None:
    clean = sanitise_filename(name)
    assert sanitise_filename(clean) == clean
    assert clean and clean.isprintable() and not clean.startswith(".")
    assert not set(clean) & set('/\\:*?"<>|')
    assert len(clean.encode()) <= MAX_NAME_BYTES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("  聊天记录\n截图.png  ", "聊天记录截图.png"),
        ("CON.txt", "_CON.txt"),
        ("...", "item"),
        ("截" * 100 + ".jpeg", "截" * 38 + ".jpeg"),
    ],
)
def test_sanitised_name_examples(name: str, expected: str) -> None:
    assert sanitise_filename(name) == expected


def test_bundles_refuse_what_no_export_should_produce(key: Ed25519PrivateKey) -> None:
    bundle = build_bundle(key)
    item = bundle.items[0]
    with pytest.raises(ValueError, match="not sanitised"):
        replace(item, name="a/b.png")
    with pytest.raises(ValueError, match="a salt is 32 bytes"):
        replace(item, salt=b"short")
    with pytest.raises(ValueError, match="only once"):
        replace(bundle, items=(item, replace(item, number=2)))
    with pytest.raises(ValueError, match="inside the signed tree"):
        replace(bundle, items=(replace(item, leaf_index=bundle.tree_head.head.size),))


def test_a_version_1_report_names_its_proofs_without_the_c2sp_format(bundle_path: Path) -> None:
    text = format_report(verify_bundle(bundle_path))
    assert (
        "- items: SHA-256 as listed 3/3, salted commitment as logged 3/3,"
        " inclusion proofs to the signed root 3/3"
    ) in text.splitlines()
