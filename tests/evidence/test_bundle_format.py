"""bot.evidence.bundle's files read back as written, field by field, and refused with a
reason naming the file and the field when they are not what the format says. An outside
verifier relies on both: it must read every field Haven wrote, and a report must say which
file is wrong and how."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.evidence.bundle import (
    RECORD_CSV,
    RECORD_PDF,
    Bundle,
    BundleFormatError,
    BundleItem,
    CustodyEntry,
    CustodyRecord,
    ItemDetails,
    ItemRecord,
    LeafClaims,
    Manifest,
    ProofFile,
    Sealed,
    SignedTreeHead,
    head_time,
    manifest_note_text,
    utc_text,
)
from storage.leaves import Origin
from storage.merkle import TreeHead

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
        (set_in("log", to=[]), "manifest.json: 'log' must be an object"),
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


# ---- the tree head, the leaf's claims and the export's own checks ------------------------


def test_the_readable_tree_head_reads_back_and_gives_its_time_in_utc() -> None:
    head = TreeHead(13, bytes(range(32)), 1_746_088_200_000)
    signed = SignedTreeHead(head, bytes([7]) * 64)
    written = json.loads(signed.to_json())
    assert written["timestamp"] == "2025-05-01T08:30:00Z"
    assert written["signature_algorithm"] == "Ed25519" and written["signed_bytes"] == "sth.bin"
    assert SignedTreeHead.from_json(signed.to_json()) == signed


def test_a_tree_head_refuses_a_signature_of_another_size_or_a_size_past_64_bits() -> None:
    head = TreeHead(13, bytes(32), 0)
    with pytest.raises(ValueError) as caught:
        SignedTreeHead(head, bytes(63))
    assert str(caught.value) == "an Ed25519 signature is 64 bytes"
    data = json.loads(SignedTreeHead(head, bytes(64)).to_json())
    data["tree_size"] = 1 << 64
    assert refusal(lambda: SignedTreeHead.from_json(json.dumps(data).encode())) == (
        "sth.json: size must fit in an unsigned 64-bit integer"
    )
    data["tree_size"] = -1
    assert refusal(lambda: SignedTreeHead.from_json(json.dumps(data).encode())) == (
        "sth.json: 'tree_size' must not be negative"
    )


def test_head_times_past_the_year_9999_are_refused_and_times_print_in_utc() -> None:
    with pytest.raises(ValueError) as caught:
        head_time(TreeHead(1, bytes(32), (1 << 64) - 1))
    assert str(caught.value) == "the tree head's timestamp is past the year 9999"
    tokyo = dt.timezone(dt.timedelta(hours=9))
    assert utc_text(dt.datetime(2025, 5, 1, 17, 30, 0, 999, tzinfo=tokyo)) == (
        "2025-05-01T08:30:00Z"
    )


def leaf(**fields: object) -> bytes:
    return json.dumps({"content_commitment": HASH, **fields}).encode()


def test_a_leaf_states_its_scheme_size_and_hash_or_leaves_them_out() -> None:
    bare = LeafClaims.from_leaf(leaf(), "leaves/001.bin")
    assert bare == LeafClaims(bytes.fromhex(HASH), None, None, 1)
    assert bare.formula == "SHA-256(salt || content)"
    full = LeafClaims.from_leaf(leaf(v=2, size=5, sha256="cd" * 32), "leaves/001.bin")
    assert full == LeafClaims(bytes.fromhex(HASH), 5, bytes.fromhex("cd" * 32), 2)
    assert full.formula.startswith('SHA-256("haven-content-v2\\n"')
    assert full.mismatch(5, bytes.fromhex("cd" * 32)) == ""
    assert full.mismatch(6, bytes.fromhex("cd" * 32)) == (
        "the log entry gives 5 bytes, the file has 6"
    )
    assert full.mismatch(5, bytes(32)) == "the log entry gives another SHA-256"
    assert bare.mismatch(6, bytes(32)) == ""


def test_a_leaf_with_a_scheme_this_haven_does_not_know_is_refused() -> None:
    assert refusal(lambda: LeafClaims.from_leaf(leaf(v=3), "leaves/002.bin")) == (
        "leaves/002.bin: commitment scheme 3 is not one this Haven reads"
    )
    assert refusal(lambda: LeafClaims.from_leaf(leaf(size=-1), "leaves/002.bin")) == (
        "leaves/002.bin: 'size' must not be negative"
    )


def bad_record(**fields: object) -> str:
    values: dict[str, Any] = {
        "number": 1,
        "kind": "photo",
        "name": "a.png",
        "size": 1,
        "sha256": bytes(32),
        "salt": bytes(32),
        "leaf_index": 0,
    }
    with pytest.raises(ValueError) as caught:
        ItemRecord(**{**values, **fields})
    return str(caught.value)


def test_an_item_is_refused_with_its_reason() -> None:
    assert bad_record(number=0) == "item numbers start at 1"
    assert bad_record(kind="Photo") == "item kind 'Photo' is not a short lowercase word"
    assert bad_record(kind="p" * 33) == f"item kind {'p' * 33!r} is not a short lowercase word"
    assert bad_record(name="a:b.png") == "item name 'a:b.png' is not sanitised"
    assert bad_record(salt=bytes(31)) == "a salt is 32 bytes"
    assert ItemRecord(1, "p" * 32, "a.png", 1, bytes(32), bytes(32), 0).kind == "p" * 32


KEY = Ed25519PrivateKey.generate()
RAW_KEY = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def bundle_item(number: int, leaf_index: int, proof: tuple[bytes, ...] = ()) -> BundleItem:
    return BundleItem(number, "text", "a.txt", b"hello", bytes(32), b"{}", leaf_index, proof)


def a_bundle(**fields: Any) -> Bundle:
    head = TreeHead(4, bytes(32), 0)
    values: dict[str, Any] = {
        "case_id": "7",
        "locale": "en",
        "exported_at": dt.datetime(2025, 5, 1, tzinfo=dt.UTC),
        "exported_by": "operator:alice",
        "reason": "court order",
        "tree_head": SignedTreeHead(head, bytes(64)),
        "log_key": RAW_KEY,
        "items": (bundle_item(1, 0), bundle_item(2, 3)),
        "custody": (CustodyEntry(b"{}", 1, ()),),
    }
    return Bundle(**{**values, **fields})


def bundle_refusal(**fields: Any) -> str:
    with pytest.raises(ValueError) as caught:
        a_bundle(**fields)
    return str(caught.value)


def test_an_export_is_refused_with_its_reason() -> None:
    assert a_bundle().manifest().custody == (CustodyRecord(1, 1),)
    assert bundle_refusal(locale="fr") == "locale must be one of ('zh-CN', 'en')"
    assert bundle_refusal(exported_at=dt.datetime(2025, 5, 1)) == (
        "exported_at must be timezone-aware"
    )
    assert bundle_refusal(items=(bundle_item(1, 0), bundle_item(2, 4))) == (
        "every leaf index must lie inside the signed tree"
    )
    assert bundle_refusal(items=(bundle_item(1, 0), bundle_item(1, 2))) == (
        "item numbers must be unique"
    )
    assert bundle_refusal(items=(bundle_item(1, 0), bundle_item(2, 1))) == (
        "a log leaf may appear only once in a bundle"
    )


def test_a_proof_of_more_than_64_hashes_or_a_short_hash_is_refused() -> None:
    assert len(bundle_item(1, 0, (bytes(32),) * 64).proof) == 64
    for proof in ((bytes(32),) * 65, (bytes(31),)):
        with pytest.raises(ValueError) as caught:
            bundle_item(1, 0, proof)
        assert str(caught.value) == "a proof is at most 64 hashes of 32 bytes"
        with pytest.raises(ValueError):
            CustodyEntry(b"{}", 0, proof)


@pytest.fixture
def tokyo_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The verifying machine's local time zone is not UTC."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo_clock")
def test_times_read_from_a_manifest_are_in_utc_whatever_the_local_zone() -> None:
    manifest = Manifest.from_json(v2_manifest().to_json())
    assert dt.datetime.now().astimezone().utcoffset() == dt.timedelta(hours=9)
    assert manifest.exported_at.isoformat() == "2025-05-01T08:30:00+00:00"
    details = manifest.items[0].details
    assert details is not None
    assert details.received_at.isoformat() == "2025-04-29T08:30:00.123456+00:00"


def test_the_manifest_says_how_a_leaf_commits_to_its_content() -> None:
    written = json.loads(v2_manifest().to_json())
    assert written["commitment"] == {
        "leaf_key": "content_commitment",
        "scheme_key": "v",
        "schemes": {
            "1": "SHA-256(salt || content)",
            "2": 'SHA-256("haven-content-v2\\n" || salt || SHA-256(content))',
        },
    }


def test_the_manifest_is_indented_and_keeps_chinese_as_itself() -> None:
    text = v2_manifest().to_json().decode("utf-8")
    assert text.startswith('{\n  "format": "haven-evidence-bundle",\n  "version": 2,\n')
    assert '"chat_title": "同事群"' in text and text.endswith("}\n")


def test_a_version_1_manifest_reads_back_without_version_2_fields() -> None:
    details = ItemDetails(RECEIVED, SENT, "image/png", FORWARDED)
    items = (
        BundleItem(1, "text", "a.txt", b"hello", bytes(32), b"{}", 0, (), details),
        bundle_item(2, 3),
    )
    manifest = a_bundle(items=items).manifest()
    assert manifest.version == 1 and manifest.origin == ""
    assert manifest.items[0].details is None
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_a_version_2_item_must_say_when_and_whence_it_came() -> None:
    with pytest.raises(ValueError) as caught:
        item(1, 0, None)
    assert str(caught.value) == "a version 2 item states when it was received and from where"


def test_the_manifest_names_every_file_an_outside_verifier_opens() -> None:
    written = json.loads(v2_manifest().to_json())
    assert {key: written[key] for key in written if key not in ("items", "commitment")} == {
        "format": "haven-evidence-bundle",
        "version": 2,
        "case_id": "7",
        "locale": "en",
        "exported_at": "2025-05-01T08:30:00Z",
        "exported_by": "operator:alice",
        "reason": "requested by the victim's lawyer",
        "tree_head": {"signed_bytes": "sth.bin", "signature": "sth.sig", "json": "sth.json"},
        "log_public_key": {
            "file": "log-public-key.pem",
            "algorithm": "Ed25519",
            "sha256": bytes(range(32)).hex(),
        },
        "custody": [
            {
                "number": number,
                "leaf_index": index,
                "leaf": f"custody/00{number}.bin",
                "proof": f"custody/00{number}.json",
                "tlog_proof": f"custody/00{number}.tlog-proof",
            }
            for number, index in ((1, 9), (2, 11))
        ],
        "timeline": {"text": "timeline.txt", "json": "timeline.json"},
        "log": {
            "origin": "haven.example.org/evidence",
            "checkpoint": "checkpoint",
            "vkey": "log-public-key.vkey",
        },
        "signed_by": "manifest.note",
        "sha256sums": {"file": "SHA256SUMS", "sha256": bytes(32).hex()},
        "extraction_record": [
            {"file": "extraction-record.csv", "sha256": (bytes([1]) * 32).hex()},
            {"file": "extraction-record.pdf", "sha256": (bytes([2]) * 32).hex()},
        ],
        "timestamps": [
            {"file": "timestamps/01.tsr", "authority_url": "https://tsa.example/a"},
            {"file": "timestamps/02.tsr", "authority_url": "https://tsa.example/b"},
        ],
    }


def test_an_items_entry_names_its_files_and_hashes() -> None:
    (first, _) = json.loads(v2_manifest().to_json())["items"]
    assert first == {
        "number": 1,
        "kind": "photo",
        "name": "photo-1.png",
        "file": "items/001-photo-1.png",
        "size": 10,
        "sha256": (bytes([1]) * 32).hex(),
        "salt": (bytes([101]) * 32).hex(),
        "leaf_index": 3,
        "leaf": "leaves/001.bin",
        "proof": "proofs/001.json",
        "tlog_proof": "proofs/001.tlog-proof",
        "received_at": "2025-04-29T08:30:00.123456Z",
        "original_date": "2025-04-28T23:05:07.000000Z",
        "mime": "image/png",
        "origin": {
            "kind": "forwarded",
            "sender_name": "某人",
            "sender_id": "42",
            "chat_title": "同事群",
            "message_id": "777",
            "author_signature": "sig",
            "permalink": "https://t.me/c/1/777",
        },
    }


@pytest.mark.usefixtures("tokyo_clock")
def test_times_are_written_in_utc_whatever_the_local_zone() -> None:
    assert utc_text(dt.datetime(2025, 5, 1, 8, 30, tzinfo=dt.UTC)) == "2025-05-01T08:30:00Z"
    assert json.loads(v2_manifest().to_json())["exported_at"] == "2025-05-01T08:30:00Z"
