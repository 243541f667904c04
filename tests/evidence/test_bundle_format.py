"""bot.evidence.bundle's files read back as written, field by field, and refused with a
reason naming the file and the field when they are not what the format says. An outside
verifier relies on both: it must read every field Haven wrote, and a report must say which
file is wrong and how."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.evidence.bundle import (
    RECORD_CSV,
    RECORD_PDF,
    BundleFormatError,
    CustodyRecord,
    ItemDetails,
    ItemRecord,
    Manifest,
    ProofFile,
    Sealed,
    manifest_note_text,
)
from storage.leaves import Origin

RECEIVED = dt.datetime(2025, 4, 29, 8, 30, 0, 123456, tzinfo=dt.UTC)
SENT = dt.datetime(2025, 4, 28, 23, 5, 7, tzinfo=dt.UTC)
FORWARDED = Origin(
    kind="forwarded",
    sender_name="某人",
    sender_id="42",
    chat_title="同事群",
    message_id="777",
    author_signature="sig",
    permalink="https://t.me/c/1/777",
)


def item(number: int, leaf_index: int, details: ItemDetails | None, version: int = 2) -> ItemRecord:
    return ItemRecord(
        number=number,
        kind="photo",
        name=f"photo-{number}.png",
        size=10 * number,
        sha256=bytes([number]) * 32,
        salt=bytes([number + 100]) * 32,
        leaf_index=leaf_index,
        version=version,
        details=details,
    )


def v2_manifest(
    timestamps: tuple[str, ...] = ("https://tsa.example/a", "https://tsa.example/b"),
) -> Manifest:
    return Manifest(
        case_id="7",
        locale="en",
        exported_at=dt.datetime(2025, 5, 1, 8, 30, tzinfo=dt.UTC),
        exported_by="operator:alice",
        reason="requested by the victim's lawyer",
        key_fingerprint=bytes(range(32)),
        items=(
            item(1, 3, ItemDetails(RECEIVED, SENT, "image/png", FORWARDED)),
            item(2, 5, ItemDetails(RECEIVED, None, "text/plain", None)),
        ),
        custody=(CustodyRecord(1, 9, 2), CustodyRecord(2, 11, 2)),
        has_timeline=True,
        version=2,
        origin="haven.example.org/evidence",
        timestamps=timestamps,
        sealed=Sealed(bytes(32), ((RECORD_CSV, bytes([1]) * 32), (RECORD_PDF, bytes([2]) * 32))),
    )


def test_a_version_2_manifest_reads_back_field_for_field() -> None:
    manifest = v2_manifest()
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_an_items_original_date_and_origin_are_written_for_the_reader() -> None:
    written = json.loads(v2_manifest().to_json())
    first, second = written["items"]
    assert first["original_date"] == "2025-04-28T23:05:07.000000Z"
    assert first["received_at"] == "2025-04-29T08:30:00.123456Z"
    assert first["origin"]["chat_title"] == "同事群"
    assert second["original_date"] is None and second["origin"] is None


def test_timestamps_are_numbered_from_one_in_the_order_asked() -> None:
    written = json.loads(v2_manifest().to_json())
    assert written["timestamps"] == [
        {"file": "timestamps/01.tsr", "authority_url": "https://tsa.example/a"},
        {"file": "timestamps/02.tsr", "authority_url": "https://tsa.example/b"},
    ]
    assert v2_manifest(()).timestamp_files == ()


def test_a_version_2_manifest_is_not_written_without_the_hashes_it_vouches_for() -> None:
    with pytest.raises(ValueError) as caught:
        replace(v2_manifest(), sealed=None).to_json()
    assert str(caught.value) == (
        "a version 2 manifest names the hashes of SHA256SUMS and the record"
    )


def test_the_manifest_note_names_the_log_and_the_manifests_sha256() -> None:
    # What an outside verifier recomputes from manifest.json before checking the signature.
    manifest = v2_manifest().to_json()
    assert manifest_note_text("haven.example.org/evidence", manifest) == (
        "haven.example.org/evidence\nhaven-bundle-manifest-v1\n"
        f"sha256 {hashlib.sha256(manifest).hexdigest()}\n"
    )


# ---- refusals name the file, the field and what is wrong ----------------------------------

PROOF = "proofs/001.json"
HASH = "ab" * 32
NOT_UTF8 = b"\xff{}"


def proof_json(**fields: object) -> bytes:
    value = {"leaf_index": 3, "tree_size": 8, "leaf_hash": HASH, "audit_path": [HASH] * 3}
    return json.dumps({**value, **fields}).encode()


def refusal(read: Callable[[], object]) -> str:
    with pytest.raises(BundleFormatError) as caught:
        read()
    return str(caught.value)


def json_error(data: bytes) -> str:
    try:
        json.loads(data.decode("utf-8"))
    except ValueError as exc:
        return str(exc)
    raise AssertionError("valid JSON")


def test_a_proof_file_reads_back() -> None:
    proof = ProofFile(3, 8, bytes.fromhex(HASH), (bytes(32), bytes([1]) * 32))
    assert ProofFile.from_json(proof.to_json(), PROOF) == proof


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[]", f"{PROOF}: expected a JSON object"),
        (b"{nope", f"{PROOF}: not valid JSON ({json_error(b'{nope')})"),
        (
            NOT_UTF8,
            f"{PROOF}: not valid JSON ({json_error(NOT_UTF8)})",
        ),
        (proof_json(leaf_index=True), f"{PROOF}: 'leaf_index' must be a whole number"),
        (proof_json(leaf_index="3"), f"{PROOF}: 'leaf_index' must be a whole number"),
        (proof_json(tree_size=-1), f"{PROOF}: 'tree_size' must not be negative"),
        (
            proof_json(leaf_hash=HASH.upper()),
            f"{PROOF}: 'leaf_hash' must be 64 lowercase hex digits",
        ),
        (
            proof_json(leaf_hash=HASH + "ab"),
            f"{PROOF}: 'leaf_hash' must be 64 lowercase hex digits",
        ),
        (proof_json(leaf_hash=7), f"{PROOF}: 'leaf_hash' must be a string"),
        (proof_json(audit_path=HASH), f"{PROOF}: 'audit_path' must be a list"),
        (
            proof_json(audit_path=[HASH] * 65),
            f"{PROOF}: 'audit_path' must be at most 64 hex strings",
        ),
        (proof_json(audit_path=[HASH, 1]), f"{PROOF}: 'audit_path' must be at most 64 hex strings"),
        (
            proof_json(audit_path=[HASH, "ab"]),
            f"{PROOF}: 'audit_path' must be 64 lowercase hex digits",
        ),
    ],
)
def test_malformed_proof_files_are_refused_with_their_reason(data: bytes, reason: str) -> None:
    assert refusal(lambda: ProofFile.from_json(data, PROOF)) == reason


def test_a_proof_may_have_64_hashes_and_an_empty_path() -> None:
    assert len(ProofFile.from_json(proof_json(audit_path=[HASH] * 64), PROOF).audit_path) == 64
    assert ProofFile.from_json(proof_json(audit_path=[], leaf_index=0), PROOF).audit_path == ()


def manifest_edited(edit: Callable[[dict[str, Any]], object]) -> bytes:
    value = json.loads(v2_manifest().to_json())
    edit(value)
    return json.dumps(value).encode()


def set_in(*path: str | int, to: object) -> Callable[[dict[str, Any]], None]:
    def edit(value: dict[str, Any]) -> None:
        target: Any = value
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = to

    return edit


def drop_in(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(value: dict[str, Any]) -> None:
        target: Any = value
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return edit


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (set_in("format", to="zip"), "manifest.json: 'format' must be 'haven-evidence-bundle'"),
        (set_in("version", to=3), "manifest.json: version 3 is not one this Haven reads"),
        (
            set_in("log_public_key", "file", to="key.pem"),
            "manifest.json: log_public_key: 'file' must be 'log-public-key.pem'",
        ),
        (
            set_in("timeline", "json", to="t.json"),
            "manifest.json: timeline: 'json' must be 'timeline.json'",
        ),
        (
            set_in("timeline", "text", to="t.txt"),
            "manifest.json: timeline: 'text' must be 'timeline.txt'",
        ),
        (
            set_in("exported_at", to="2025-05-01T08:30:00"),
            "manifest.json: 'exported_at' is not a UTC time (no time zone)",
        ),
        (set_in("items", to={}), "manifest.json: 'items' must be a list"),
        (set_in("items", 0, "number", to=0), "manifest.json: item: item numbers start at 1"),
        (
            set_in("items", 0, "file", to="items/001-x.png"),
            "manifest.json: items: 'file' must be 'items/001-photo-1.png'",
        ),
        (
            set_in("items", 1, "received_at", to="yesterday"),
            "manifest.json: items: 'received_at' is not a UTC time "
            "(Invalid isoformat string: 'yesterday')",
        ),
        (
            set_in("items", 0, "origin", "kind", to=1),
            "manifest.json: items: origin: 'kind' must be a string",
        ),
        (
            set_in("items", 0, "tlog_proof", to="proofs/001.json"),
            "manifest.json: items: 'tlog_proof' must be 'proofs/001.tlog-proof'",
        ),
        (
            lambda manifest: manifest["custody"].reverse(),
            "manifest.json: custody events must be numbered 1, 2, 3… in order",
        ),
        (
            set_in("custody", 0, "leaf", to="custody/002.bin"),
            "manifest.json: custody: 'leaf' must be 'custody/001.bin'",
        ),
        (
            set_in("custody", 0, "tlog_proof", to="custody/001.json"),
            "manifest.json: custody: 'tlog_proof' must be 'custody/001.tlog-proof'",
        ),
        (
            set_in("items", 1, "leaf_index", to=3),
            "manifest.json: a log leaf may appear only once in a bundle",
        ),
        (
            set_in("log", "checkpoint", to="head"),
            "manifest.json: log: 'checkpoint' must be 'checkpoint'",
        ),
        (
            set_in("log", "vkey", to="key.vkey"),
            "manifest.json: log: 'vkey' must be 'log-public-key.vkey'",
        ),
        (set_in("signed_by", to="sig"), "manifest.json: 'signed_by' must be 'manifest.note'"),
        (
            set_in("sha256sums", "file", to="SUMS"),
            "manifest.json: sha256sums: 'file' must be 'SHA256SUMS'",
        ),
        (
            drop_in("extraction_record", 1),
            "manifest.json: 'extraction_record' must list "
            "('extraction-record.csv', 'extraction-record.pdf')",
        ),
        (
            set_in("timestamps", 1, "file", to="timestamps/01.tsr"),
            "manifest.json: timestamps: 'file' must be 'timestamps/02.tsr'",
        ),
    ],
)
def test_malformed_manifests_are_refused_with_their_reason(
    edit: Callable[[dict[str, Any]], object], reason: str
) -> None:
    data = manifest_edited(edit)
    assert refusal(lambda: Manifest.from_json(data)) == reason
