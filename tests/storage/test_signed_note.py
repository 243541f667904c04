"""storage.signed_note at its edges: what a note, a signature line and a verifier key may
be, and the reason given when one is refused — a verifier's report quotes it, and a court
reads that report, so each refusal must name its own cause."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from storage import signed_note
from storage.signed_note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    NoteError,
    NoteVerifier,
    parse_vkey,
    verifier_of,
)

KEY = Ed25519PrivateKey.generate()
NAME = "haven.example.org/evidence"
VERIFIER = verifier_of(NAME, KEY)
SIGNED = signed_note.sign("origin\n", NAME, KEY)
SIGNATURE_LINE = SIGNED.removeprefix("origin\n\n").removesuffix("\n")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def refusal(call: object, *args: object) -> str:
    assert callable(call)
    with pytest.raises(NoteError) as caught:
        call(*args)
    return str(caught.value)


# ---- what is accepted, at the limits ----------------------------------------------------


def test_a_note_of_exactly_the_size_limit_opens_and_one_byte_more_is_refused() -> None:
    overhead = len(SIGNED.encode()) - len("origin\n")
    text = "a" * (MAX_NOTE_BYTES - overhead - 1) + "\n"
    note = signed_note.sign(text, NAME, KEY)
    assert len(note.encode()) == MAX_NOTE_BYTES
    assert signed_note.open_note(note, [VERIFIER]).text == text
    longer = signed_note.sign("a" + text, NAME, KEY)
    assert refusal(signed_note.parse, longer) == f"a note is at most {MAX_NOTE_BYTES} bytes"


def test_a_note_may_carry_the_maximum_of_signature_lines_but_not_one_more() -> None:
    stranger = Ed25519PrivateKey.generate()
    others = [
        signed_note.sign("origin\n", f"witness{n}.example", stranger).splitlines()[-1]
        for n in range(MAX_SIGNATURES - 1)
    ]
    full = SIGNED + "".join(line + "\n" for line in others)
    opened = signed_note.open_note(full, [VERIFIER])
    assert len(opened.signatures) == MAX_SIGNATURES
    too_many = full + others[0] + "\n"
    assert refusal(signed_note.parse, too_many) == (
        f"a note has 1 to {MAX_SIGNATURES} signature lines"
    )


def test_a_note_without_signature_lines_is_refused_as_such() -> None:
    assert refusal(signed_note.parse, "origin\n\n") == (
        f"a note has 1 to {MAX_SIGNATURES} signature lines"
    )


def test_the_shortest_signature_of_an_unknown_key_is_ignored_not_refused() -> None:
    # The specification allows any signature of 5 bytes or more (a key ID and one byte);
    # other verifiers' notes carry signatures of other algorithms, which Haven must skip.
    for size in (5, 6):
        short = f"\u2014 other.example {b64(bytes(size))}\n"
        opened = signed_note.open_note(SIGNED + short, [VERIFIER])
        assert opened.signatures[-1].signature == bytes(size - 4)


def test_a_note_whose_text_is_one_newline_round_trips() -> None:
    note = signed_note.sign("\n", NAME, KEY)
    assert note.startswith("\n\n")
    assert signed_note.open_note(note, [VERIFIER]).text == "\n"


def test_every_known_signature_must_verify_and_one_suffices() -> None:
    second = verifier_of("second.example", Ed25519PrivateKey.generate())
    assert signed_note.open_note(SIGNED, [second, VERIFIER]).text == "origin\n"
    assert refusal(signed_note.open_note, SIGNED, [second]) == "no signature by a known key"
    forged = SIGNED.replace("origin", "origim", 1)
    assert refusal(signed_note.open_note, forged, [second, VERIFIER]) == (
        f"the signature of {NAME} does not verify"
    )


# ---- refusals, each with its own reason ---------------------------------------------------

SIG = b64(bytes(68))

MALFORMED_NOTES = [
    (b"origin\n\n\xff\n", "a note must be UTF-8"),
    (
        "orig\tin\n\n" + SIGNATURE_LINE + "\n",
        "a note must not contain control characters other than newline",
    ),
    ("origin\n\n" + SIGNATURE_LINE, "a note must end with a newline"),
    ("origin\n" + SIGNATURE_LINE + "\n", "a note needs a blank line before its signatures"),
    ("origin\n\n- name " + SIG + "\n", "a signature line starts with an em dash and a space"),
    ("origin\n\n\u2014 name\n", "a signature line is: em dash, key name, base64 signature"),
    ("origin\n\n\u2014 na+me " + SIG + "\n", "a key name must be non-empty, without spaces or '+'"),
    # a space inside the signature is bad base64, not a name with a space in it
    ("origin\n\n\u2014 name AAAA AAAA\n", "the signature is not base64"),
    (
        "origin\n\n\u2014 name " + b64(bytes(4)) + "\n",
        "a signature is a 4-byte key ID and at least one byte",
    ),
    # padding where none is due: Go's decoder refuses it, so must Haven's
    ("origin\n\n\u2014 name " + b64(bytes(6)) + "=\n", "the signature is not base64"),
    ("origin\n\n\u2014 name " + b64(bytes(6)) + "==\n", "the signature is not base64"),
    ("origin\n\n\u2014 name " + b64(bytes(5))[:-1] + "\n", "the signature is not base64"),
]


@pytest.mark.parametrize(("note", "reason"), MALFORMED_NOTES)
def test_malformed_notes_are_refused_with_their_reason(note: str | bytes, reason: str) -> None:
    assert refusal(signed_note.parse, note) == reason


def test_a_signature_with_padding_to_spare_is_refused() -> None:
    # "…=" and "…==" decode alike to a lenient decoder; one signature must have one
    # spelling, as in every other implementation of the format.
    assert SIGNATURE_LINE.endswith("=") and not SIGNATURE_LINE.endswith("==")
    padded = "origin\n\n" + SIGNATURE_LINE + "=\n"
    assert refusal(signed_note.parse, padded) == "the signature is not base64"


@pytest.mark.parametrize(
    "text", ["no final newline", "a blank\n\nline\n", "a\ttab\n", "both\n\nand\ta tab"]
)
def test_texts_a_note_cannot_carry_are_refused_before_signing(text: str) -> None:
    assert refusal(signed_note.sign, text, NAME, KEY) == (
        "a note's text ends in a newline, with no blank line or control code"
    )


def vkey(name: str, key_id: str, material: bytes) -> str:
    return f"{name}+{key_id}+{b64(material)}"


PUBLIC = VERIFIER.public_key
ID = VERIFIER.key_id.hex()

# Each named, not shown: the key is made afresh in each process, and pytest-xdist's
# workers must collect the same tests.
MALFORMED_VKEYS = [
    pytest.param("a+b", "a verifier key is NAME+KEYID+KEY", id="no-key"),
    pytest.param(
        "a b+" + ID + "+" + b64(b"\x01" + PUBLIC),
        "a key name must be non-empty, without spaces or '+'",
        id="space-in-name",
    ),
    # Not ID.upper(): a random key's ID is all decimal digits one time in 43.
    pytest.param(
        vkey(NAME, "ABCDEF12", b"\x01" + PUBLIC),
        "a verifier key's ID is 8 lowercase hex digits",
        id="upper-case-id",
    ),
    pytest.param(
        vkey(NAME, ID[:7], b"\x01" + PUBLIC),
        "a verifier key's ID is 8 lowercase hex digits",
        id="short-id",
    ),
    pytest.param(f"{NAME}+{ID}+not base64!", "the verifier key is not base64", id="not-base64"),
    pytest.param(
        f"{NAME}+{ID}+" + b64(b"\x01" + PUBLIC) + "=",
        "the verifier key is not base64",
        id="padded-base64",
    ),
    pytest.param(vkey(NAME, ID, b"\x02" + PUBLIC), "not an Ed25519 verifier key", id="not-ed25519"),
    pytest.param(
        vkey(NAME, ID, b"\x01" + PUBLIC[:31]), "not an Ed25519 verifier key", id="short-key"
    ),
    pytest.param(
        vkey(NAME, "00000000", b"\x01" + PUBLIC),
        "the verifier key's ID does not match its name and key",
        id="wrong-id",
    ),
]


@pytest.mark.parametrize(("text", "reason"), MALFORMED_VKEYS)
def test_malformed_verifier_keys_are_refused_with_their_reason(text: str, reason: str) -> None:
    assert refusal(parse_vkey, text) == reason


def test_a_verifier_key_is_refused_unless_its_key_is_32_bytes() -> None:
    for size in (31, 33):
        assert refusal(NoteVerifier.for_key, NAME, bytes(size)) == (
            "an Ed25519 public key is 32 bytes"
        )
    assert NoteVerifier.for_key(NAME, PUBLIC) == VERIFIER
