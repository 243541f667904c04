"""Signed notes, checkpoints and tlog proofs: the C2SP specifications' own examples, and
Haven's output checked by a second verifier written from the specifications alone."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage import signed_note
from storage.merkle import MemoryTree, leaf_hash
from storage.signed_note import NoteError, parse_vkey, verifier_of
from storage.tlog import Checkpoint, TlogError, TlogProof, open_checkpoint, sign_checkpoint
from tests import c2sp_reference

SPEC = Path(__file__).parent.parent / "data" / "c2sp"


def spec(name: str) -> str:
    return (SPEC / name).read_text(encoding="utf-8")


# ---- the specifications' examples -------------------------------------------------------


def test_the_signed_note_example_verifies_with_its_published_key() -> None:
    verifier = parse_vkey(spec("signed-note-example.vkey"))
    assert verifier.name == "example.com/foo" and verifier.key_id.hex() == "530d903a"
    opened = signed_note.open_note(spec("signed-note-example.note"), [verifier])
    assert opened.text == "This is an example message.\n"
    assert c2sp_reference.open_signed_note(
        spec("signed-note-example.note"), spec("signed-note-example.vkey")
    ) == ("This is an example message.\n")


def test_the_example_fails_once_a_byte_of_its_text_changes() -> None:
    verifier = parse_vkey(spec("signed-note-example.vkey"))
    forged = spec("signed-note-example.note").replace("example", "exemple", 1)
    with pytest.raises(NoteError, match="does not verify"):
        signed_note.open_note(forged, [verifier])


def test_the_opening_example_parses_with_blank_lines_in_its_text() -> None:
    note = signed_note.parse(spec("signed-note-quasimodo.note"))
    assert note.text.endswith("ed è subito sera.\n") and "\n\n" in note.text
    (signature,) = note.signatures
    assert signature.name == "quasimodo.example/salvatore" and len(signature.signature) == 64
    other = verifier_of("quasimodo.example/salvatore", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="no signature by a known key"):
        signed_note.open_note(spec("signed-note-quasimodo.note"), [other])


def test_the_checkpoint_example_reads_as_origin_size_and_root() -> None:
    note = signed_note.parse(spec("tlog-checkpoint-example.note"))
    checkpoint = Checkpoint.from_text(note.text)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert base64.b64encode(checkpoint.root).decode() == (
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    )
    assert checkpoint.text() == note.text
    assert note.signatures[0].name == checkpoint.origin


def test_the_proof_example_reads_as_index_path_and_checkpoint() -> None:
    proof = TlogProof.from_text(spec("tlog-proof-example.tlog-proof"))
    assert proof.index == 73894 and len(proof.audit_path) == 5
    assert proof.extra is not None and proof.extra.startswith(b"age-v1.2.1-darwin-arm64")
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")
    # its signatures are elided ("[...]") in the specification: not a note anyone can open
    with pytest.raises(NoteError):
        signed_note.parse(proof.checkpoint)


# ---- Haven's own, against the second verifier ---------------------------------------------


def test_haven_checkpoints_and_proofs_pass_the_reference_verifier() -> None:
    key = Ed25519PrivateKey.generate()
    origin = "haven.example.org/evidence"
    vkey = verifier_of(origin, key).vkey()
    tree = MemoryTree()
    entries = [f"entry {n}".encode() for n in range(13)]
    for entry in entries:
        tree.append(entry)
    note = sign_checkpoint(Checkpoint(origin, tree.size, tree.root()), key)
    text = c2sp_reference.open_signed_note(note, vkey)
    assert c2sp_reference.checkpoint_fields(text) == (origin, 13, tree.root())
    for index, entry in enumerate(entries):
        proof = TlogProof(index, tuple(tree.inclusion_proof(index, tree.size)), note)
        assert c2sp_reference.verify_proof(proof.to_text(), entry, vkey) == (index, 13)
        parsed = TlogProof.from_text(proof.to_text())
        assert parsed == proof
        assert parsed.verify(leaf_hash(entry), [parse_vkey(vkey)]).size == 13


def test_a_proof_for_another_entry_or_key_fails() -> None:
    key = Ed25519PrivateKey.generate()
    tree = MemoryTree()
    for n in range(5):
        tree.append(b"%d" % n)
    note = sign_checkpoint(Checkpoint("log.example", 5, tree.root()), key)
    proof = TlogProof(2, tuple(tree.inclusion_proof(2, 5)), note)
    verifier = verifier_of("log.example", key)
    with pytest.raises(TlogError, match="does not lead"):
        proof.verify(leaf_hash(b"3"), [verifier])
    stranger = verifier_of("log.example", Ed25519PrivateKey.generate())
    with pytest.raises(TlogError, match="no signature by a known key"):
        proof.verify(leaf_hash(b"2"), [stranger])
    with pytest.raises(TlogError):
        open_checkpoint(note.replace("\n5\n", "\n6\n"), [verifier])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x\n5\n",
        "x\n05\nAAAA\n",
        "x\n5\nnot base64!\n",
        "x y\n5\n" + base64.b64encode(bytes(32)).decode() + "\n",
        "\n5\n" + base64.b64encode(bytes(32)).decode() + "\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(TlogError):
        Checkpoint.from_text(text)


def test_vkeys_round_trip_and_malformed_ones_are_refused() -> None:
    verifier = verifier_of("haven/0123456789abcdef", Ed25519PrivateKey.generate())
    assert parse_vkey(verifier.vkey()) == verifier
    c2sp_reference.vkey_parts(verifier.vkey())
    for bad in ("a+b", "a+530d903a+AAAA", verifier.vkey().replace("+", "+0", 1), "a b+1+2"):
        with pytest.raises(NoteError):
            parse_vkey(bad)


# ---- the formats at their limits, and the reason given for each refusal -------------------
# A verifier's report quotes these reasons to whoever checks a bundle, so each must name
# its own cause.

ROOT = base64.b64encode(bytes(range(32))).decode()


def reason(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(TlogError) as caught:
        call(*args)
    return str(caught.value)


def test_proofs_round_trip_with_their_extra_data_as_the_specification_writes_them() -> None:
    text = spec("tlog-proof-example.tlog-proof")
    assert TlogProof.from_text(text).to_text() == text
    proof = TlogProof(0, (), "a\n", extra=b"\x00any bytes\xff")
    assert TlogProof.from_text(proof.to_text()) == proof
    assert proof.to_text().splitlines()[1] == "extra " + base64.b64encode(proof.extra).decode()


def test_checkpoint_extension_lines_are_kept_in_order() -> None:
    text = f"log.example\n5\n{ROOT}\nfirst extension\nsecond extension\n"
    checkpoint = Checkpoint.from_text(text)
    assert checkpoint.extensions == ("first extension", "second extension")
    assert checkpoint.text() == text


def test_the_checkpoint_of_an_empty_log_and_of_the_largest_one_are_valid() -> None:
    key = Ed25519PrivateKey.generate()
    empty = Checkpoint("log.example", 0, hashlib.sha256().digest())
    opened = open_checkpoint(sign_checkpoint(empty, key), [verifier_of("log.example", key)])
    assert opened == empty
    assert Checkpoint("log.example", (1 << 64) - 1, bytes(32)).size == (1 << 64) - 1
    assert reason(Checkpoint, "log.example", 1 << 64, bytes(32)) == "a tree size fits in 64 bits"
    assert reason(Checkpoint, "log.example", -1, bytes(32)) == "a tree size fits in 64 bits"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (f"log.example\n5\n{ROOT}", "a checkpoint is at least three non-empty lines"),
        (f"log.example\n5\n{ROOT}\nextension", "a checkpoint is at least three non-empty lines"),
        (
            f"log.example\n5\n{ROOT}\n\nextension\n",
            "a checkpoint is at least three non-empty lines",
        ),
        (
            f"log.example\n5\n{ROOT}\nextension\n\n",
            "a checkpoint is at least three non-empty lines",
        ),
        (f"log.example\n5\n{ROOT}\n\n", "a checkpoint is at least three non-empty lines"),
        (f"log.example\n+5\n{ROOT}\n", "a checkpoint's second line is the tree size in decimal"),
        (f"log.example\n{1 << 64}\n{ROOT}\n", "checkpoint: a tree size fits in 64 bits"),
        (f"log.example\n5\n{ROOT[:10]}!{ROOT[10:]}\n", "checkpoint: the hash is not base64"),
        (f"log.example\n5\n{ROOT[:4]}\n", "checkpoint: a hash is 32 bytes"),
        (f"\x01\n5\n{ROOT}\n", "checkpoint: an origin is a non-empty line"),
        (
            f"log example\n5\n{ROOT}\n",
            "checkpoint: origin: a key name must be non-empty, without spaces or '+'",
        ),
    ],
)
def test_malformed_checkpoints_are_refused_with_their_reason(text: str, why: str) -> None:
    assert reason(Checkpoint.from_text, text) == why


def test_a_checkpoint_without_an_origin_or_a_whole_root_is_refused_as_such() -> None:
    assert reason(Checkpoint, "", 5, bytes(32)) == "an origin is a non-empty line"
    assert reason(Checkpoint, "log.example", 5, bytes(31)) == "a root hash is 32 bytes"


def test_a_checkpoint_signed_under_another_name_than_its_origin_is_refused() -> None:
    key = Ed25519PrivateKey.generate()
    text = Checkpoint("log.example", 5, bytes(32)).text()
    note = signed_note.sign(text, "other.example", key)
    assert reason(open_checkpoint, note, [verifier_of("other.example", key)]) == (
        "the checkpoint is not signed under its origin's name"
    )


HEADER = "c2sp.org/tlog-proof@v1"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            f"{HEADER}\nindex 0\n",
            "a proof starts with 'c2sp.org/tlog-proof@v1' and has a blank line",
        ),
        (
            "c2sp.org/tlog-proof@v2\nindex 0\n\nnote\n",
            "a proof starts with 'c2sp.org/tlog-proof@v1' and has a blank line",
        ),
        (f"{HEADER}\nextra !!\nindex 0\n\nnote\n", "the extra data is not base64"),
        (f"{HEADER}\n\nnote\n", "a proof names its entry: 'index N'"),
        (f"{HEADER}\nentry 0\n\nnote\n", "a proof names its entry: 'index N'"),
        (
            f"{HEADER}\nindex 01\n\nnote\n",
            "a proof's index is a decimal number without leading zeroes",
        ),
        (
            f"{HEADER}\nindex {1 << 64}\n\nnote\n",
            "a proof's index is a decimal number without leading zeroes",
        ),
        (f"{HEADER}\nindex 0\n{ROOT[1:]}\n\nnote\n", "the hash is not base64"),
        (f"{HEADER}\nindex 0\n{ROOT[:10]}!{ROOT[10:]}\n\nnote\n", "the hash is not base64"),
        (f"{HEADER}\nindex 0\nAAAA\n\nnote\n", "a hash is 32 bytes"),
    ],
)
def test_malformed_proofs_are_refused_with_their_reason(text: str, why: str) -> None:
    assert reason(TlogProof.from_text, text) == why


def test_a_proof_carries_at_most_64_hashes() -> None:
    def proof(hashes: int) -> str:
        return f"{HEADER}\nindex {(1 << 64) - 1}\n" + f"{ROOT}\n" * hashes + "\nnote\n"

    parsed = TlogProof.from_text(proof(64))
    assert parsed.index == (1 << 64) - 1 and len(parsed.audit_path) == 64
    assert reason(TlogProof.from_text, proof(65)) == "a proof has at most 64 hashes"


def test_a_proof_for_an_index_outside_the_tree_or_off_the_root_is_refused_as_such() -> None:
    key = Ed25519PrivateKey.generate()
    tree = MemoryTree()
    for n in range(4):
        tree.append(b"%d" % n)
    note = sign_checkpoint(Checkpoint("log.example", 4, tree.root()), key)
    verifiers = [verifier_of("log.example", key)]
    last = TlogProof(3, tuple(tree.inclusion_proof(3, 4)), note)
    assert last.verify(leaf_hash(b"3"), verifiers).size == 4
    beyond = TlogProof(4, tuple(tree.inclusion_proof(3, 4)), note)
    assert reason(beyond.verify, leaf_hash(b"3"), verifiers) == ("entry 4 is outside the tree of 4")
    assert reason(last.verify, leaf_hash(b"2"), verifiers) == (
        "the inclusion proof does not lead to the checkpoint's root"
    )
