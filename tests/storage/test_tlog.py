"""Signed notes, checkpoints and tlog proofs: the C2SP specifications' own examples, and
Haven's output checked by a second verifier written from the specifications alone."""

from __future__ import annotations

import base64
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
