"""A second, minimal verifier of signed notes, checkpoints and tlog proofs.

Written from the texts of c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
c2sp.org/tlog-proof and RFC 6962 §2.1.1 alone — nothing here is imported from or
modelled on Haven's storage/signed_note.py, storage/tlog.py or storage/merkle.py — so a
bundle that passes both was not merely checked by the code that wrote it. Deliberately
plain: it only answers "valid or not" and raises AssertionError with the reason.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EM_DASH = "—"


def vkey_parts(vkey: str) -> tuple[str, bytes, bytes]:
    """signed-note "Verifier keys": <name>+<hex key id>+<base64(type || key)>."""
    name, key_hash, material = vkey.strip().split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 0x01, "only Ed25519 (0x01) verifier keys here"
    public = raw[1:]
    assert len(public) == 32
    expected = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert bytes.fromhex(key_hash) == expected, "key ID must be SHA-256(name||0x0A||0x01||key)[:4]"
    return name, expected, public


def open_signed_note(note: str, vkey: str) -> str:
    """The note's text, if the vkey's key signed it (signed-note "Format", "Signatures")."""
    name, key_id, public = vkey_parts(vkey)
    assert note.endswith("\n")
    for ch in note:
        assert ch == "\n" or ord(ch) >= 0x20, "no control characters but newline"
    cut = note.rindex("\n\n")
    text = note[: cut + 1]
    verified = False
    for line in note[cut + 2 :].splitlines():
        assert line.startswith(EM_DASH + " ")
        signer, encoded = line[2:].split(" ")
        sig = base64.b64decode(encoded)
        if signer != name or sig[:4] != key_id:
            continue  # an unknown key: ignored
        Ed25519PublicKey.from_public_bytes(public).verify(sig[4:], text.encode())
        verified = True
    assert verified, "no signature from the given key"
    return text


def checkpoint_fields(text: str) -> tuple[str, int, bytes]:
    """tlog-checkpoint "Note text": origin, tree size, base64 root hash."""
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) >= 4
    origin, size, root = lines[0], lines[1], base64.b64decode(lines[2])
    assert origin and size.isdigit() and (size == "0" or not size.startswith("0"))
    assert len(root) == 32
    return origin, int(size), root


def _hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _subtree_root(m: int, n: int, leaf: bytes, path: list[bytes]) -> bytes:
    """RFC 6962 §2.1.1 PATH(m, D[n]) read backwards: the root of D[n] from leaf m and its
    path, splitting at k, the largest power of two smaller than n."""
    if n == 1:
        assert not path, "proof too long"
        return leaf
    assert path, "proof too short"
    k = 1
    while k * 2 < n:
        k *= 2
    last = path[-1]
    if m < k:
        return _hash_children(_subtree_root(m, k, leaf, path[:-1]), last)
    return _hash_children(last, _subtree_root(m - k, n - k, leaf, path[:-1]))


def verify_proof(proof: str, entry: bytes, vkey: str) -> tuple[int, int]:
    """A c2sp.org/tlog-proof@v1 for ``entry``: returns (index, tree size)."""
    head, checkpoint = proof.split("\n\n", 1)
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    rest = lines[1:]
    if rest[0].startswith("extra "):
        rest = rest[1:]
    assert rest[0].startswith("index ")
    index = int(rest[0][len("index ") :])
    path = [base64.b64decode(line) for line in rest[1:]]
    origin, size, root = checkpoint_fields(open_signed_note(checkpoint, vkey))
    assert origin == vkey.split("+", 1)[0], "the checkpoint's origin is the key's name"
    assert index < size
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    assert _subtree_root(index, size, leaf, path) == root, "inclusion proof fails"
    return index, size
