"""Master keys, key files and envelope encryption (storage.keys, storage.vault)."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.keys import (
    MASTER_KEY_SIZE,
    KeyFileError,
    KeyRing,
    MasterKey,
    MasterKeyError,
    create_key_file,
    decode_master_key,
    load_master_key,
)
from storage.secret_files import SECRET_FILE_MODE
from storage.vault import (
    DATA_KEY_SIZE,
    SEAL_OVERHEAD,
    WRAPPED_KEY_SIZE,
    ItemOpener,
    VaultError,
    new_data_key,
    open_event,
    open_sealed,
    rewrap,
    seal,
    seal_event,
    seal_joined,
    unwrap,
    wrap,
)


def material_forms(secret: bytes) -> list[str]:
    """Every spelling of a key that must never show up in text."""
    b64 = base64.b64encode(secret).decode()
    return [
        secret.hex(),
        secret.hex().upper(),
        b64,
        b64.rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret),
        str(list(secret)),
    ]


def assert_no_material(text: str, secret: bytes) -> None:
    for form in material_forms(secret):
        assert form not in text
    # Also no long run of the hex: 8 hex digits of the key (the key id is a hash).
    hexed = secret.hex()
    for start in range(0, len(hexed) - 8, 4):
        assert hexed[start : start + 8] not in text.lower()


def assert_no_chained_exception(error: BaseException) -> None:
    """No decoder exception (which might quote the value) shows in a traceback."""
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# --- key files --------------------------------------------------------------------------


def test_create_key_file_is_0600_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == SECRET_FILE_MODE == 0o600
    text = path.read_text(encoding="ascii")
    assert text.endswith("\n") and text.count("\n") == 1
    assert base64.b64decode(text.strip(), validate=True) == key.secret
    assert len(key.secret) == MASTER_KEY_SIZE
    assert load_master_key(path, None) == key


def test_create_key_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "master.key"
        create_key_file(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_create_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = create_key_file(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError) as info:
        create_key_file(path)
    message = str(info.value)
    assert str(path) in message and "already exists" in message
    assert "\n" not in message
    assert path.read_bytes() == before
    assert load_master_key(path, None) == first


def test_create_key_file_refuses_a_symlink_in_its_place(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "master.key"
    link.symlink_to(target)
    with pytest.raises(KeyFileError, match="already exists"):
        create_key_file(link)
    assert not target.exists()


def test_create_key_file_in_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="directory does not exist"):
        create_key_file(tmp_path / "nope" / "master.key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o601, 0o610])
def test_key_file_accessible_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    key = create_key_file(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as info:
        load_master_key(path, None)
    message = str(info.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert "\n" not in message
    assert_no_material(message, key.secret)
    path.chmod(0o600)
    assert load_master_key(path, None) == key


def test_key_file_0400_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = create_key_file(path)
    path.chmod(0o400)
    assert load_master_key(path, None) == key


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.key"
    with pytest.raises(KeyFileError, match="does not exist"):
        load_master_key(path, None)


def test_no_key_source_at_all_is_a_clear_error() -> None:
    with pytest.raises(MasterKeyError, match="HAVEN_MASTER_KEY"):
        load_master_key(None, None)


def test_key_file_may_hold_hex(tmp_path: Path) -> None:
    secret = os.urandom(32)
    path = tmp_path / "hex.key"
    path.write_text(secret.hex() + "\n")
    path.chmod(0o600)
    assert load_master_key(path, None).secret == secret


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (base64.b64encode(os.urandom(16)).decode(), "16 bytes"),
        (base64.b64encode(os.urandom(33)).decode(), "33 bytes"),
        ("not base64 at all!", "not base64"),
        ("", "0 bytes"),
        ("é" * 10, "not base64"),
    ],
    # Named, not shown: random bytes would give each pytest-xdist worker other tests.
    ids=["16-random-bytes", "33-random-bytes", "not-base64", "empty", "not-ascii"],
)
def test_malformed_key_file_is_refused(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.key"
    path.write_text(content + "\n", encoding="utf-8")
    path.chmod(0o600)
    with pytest.raises(KeyFileError) as info:
        load_master_key(path, None)
    message = str(info.value)
    assert expected in message and str(path) in message
    assert content.strip() == "" or content not in message


def test_oversized_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.key"
    path.write_bytes(b"A" * 100_000)
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="too large"):
        load_master_key(path, None)


def test_directory_as_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dir.key"
    path.mkdir(mode=0o700)
    with pytest.raises(KeyFileError):
        load_master_key(path, None)


# --- environment variable ---------------------------------------------------------------


def test_env_key_wins_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    file_key = create_key_file(path)
    env_key = MasterKey.generate()
    loaded = load_master_key(path, env_key.to_text())
    assert loaded == env_key != file_key


def test_env_key_wins_even_when_the_file_is_unusable(tmp_path: Path) -> None:
    env_key = MasterKey.generate()
    assert load_master_key(tmp_path / "absent.key", env_key.to_text()) == env_key
    loose = tmp_path / "loose.key"
    loose.write_text("x\n")
    loose.chmod(0o644)
    assert load_master_key(loose, env_key.to_text()) == env_key


def test_empty_env_value_counts_as_unset(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    file_key = create_key_file(path)
    assert load_master_key(path, "") == file_key


def test_env_key_tolerates_surrounding_whitespace() -> None:
    key = MasterKey.generate()
    assert load_master_key(None, f"  {key.to_text()}\n") == key


@pytest.mark.parametrize("size", [0, 16, 31, 33, 64])
def test_env_key_of_wrong_length_is_refused_without_echoing_it(size: int) -> None:
    secret = os.urandom(size)
    value = base64.b64encode(secret).decode()
    with pytest.raises(MasterKeyError) as info:
        load_master_key(None, value or "====")
    message = str(info.value)
    assert "HAVEN_MASTER_KEY" in message
    assert "\n" not in message
    if secret:
        assert value not in message
        assert_no_material(message, secret)
    assert_no_chained_exception(info.value)


def test_env_key_not_base64_is_refused_without_echoing_it() -> None:
    value = "this-is-secret-but-not-base64!!"
    with pytest.raises(MasterKeyError) as info:
        load_master_key(None, value)
    assert value not in str(info.value)
    assert "base64" in str(info.value)
    assert_no_chained_exception(info.value)


# --- no key material anywhere -----------------------------------------------------------


def test_master_key_repr_and_str_hide_the_bytes() -> None:
    key = MasterKey.generate()
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key]), repr({"k": key})):
        assert_no_material(text, key.secret)
        assert key.key_id in text


def test_key_id_is_sha256_prefix_and_stable() -> None:
    import hashlib

    secret = bytes(range(32))
    key = MasterKey(secret)
    assert key.key_id == hashlib.sha256(secret).digest()[:8].hex()
    assert len(key.key_id) == 16
    assert MasterKey(secret).key_id == key.key_id
    assert MasterKey.generate().key_id != key.key_id


def test_master_key_of_wrong_size_cannot_be_built() -> None:
    with pytest.raises(MasterKeyError):
        MasterKey(b"short")


def test_key_ring_repr_and_lookup() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    ring = KeyRing(new, [old])
    assert ring.current is new
    assert ring.key_ids == (new.key_id, old.key_id)
    assert ring.get(old.key_id) is old
    assert old.key_id in ring and len(ring) == 2
    assert list(ring) == [new, old]
    for text in (repr(ring), str(ring)):
        assert_no_material(text, old.secret)
        assert_no_material(text, new.secret)
    with pytest.raises(MasterKeyError, match="no loaded master key") as info:
        ring.get("0" * 16)
    assert_no_material(str(info.value), old.secret)


def test_vault_errors_contain_no_key_material() -> None:
    master, other = MasterKey.generate(), MasterKey.generate()
    data_key = new_data_key()
    wrapped = wrap(master, data_key, 7)
    sealed = seal(data_key, b"private words", "item-1")
    failures: list[VaultError] = []
    attempts: list[Callable[[], bytes]] = [
        lambda: unwrap(other, wrapped, 7),
        lambda: unwrap(master, wrapped, 8),
        lambda: unwrap(master, wrapped[:-1], 7),
        lambda: open_sealed(new_data_key(), sealed, "item-1"),
        lambda: open_sealed(data_key, sealed, "item-2"),
        lambda: open_sealed(data_key, sealed[:10], "item-1"),
        lambda: seal(data_key[:16], b"x", "item-1"),
    ]
    for attempt in attempts:
        with pytest.raises(VaultError) as info:
            attempt()
        failures.append(info.value)
    for error in failures:
        text = f"{error} {error!r}"
        assert "\n" not in str(error)
        for secret in (master.secret, other.secret, data_key):
            assert_no_material(text, secret)
        assert "private words" not in text
        assert_no_chained_exception(error)


# --- wrap / unwrap ----------------------------------------------------------------------


def test_wrap_unwrap_round_trip() -> None:
    master = MasterKey.generate()
    data_key = new_data_key()
    assert len(data_key) == DATA_KEY_SIZE
    wrapped = wrap(master, data_key, 42)
    assert len(wrapped) == WRAPPED_KEY_SIZE == 61
    assert wrapped[0] == 1
    assert data_key not in wrapped
    assert unwrap(master, wrapped, 42) == data_key


def test_wrapping_twice_uses_fresh_nonces() -> None:
    master = MasterKey.generate()
    data_key = new_data_key()
    first, second = wrap(master, data_key, 1), wrap(master, data_key, 1)
    assert first != second
    assert first[1:13] != second[1:13]
    assert unwrap(master, first, 1) == unwrap(master, second, 1) == data_key


def test_new_data_keys_differ() -> None:
    assert len({new_data_key() for _ in range(100)}) == 100


def test_unwrap_with_wrong_case_fails() -> None:
    master = MasterKey.generate()
    wrapped = wrap(master, new_data_key(), 1)
    with pytest.raises(VaultError, match="case 2"):
        unwrap(master, wrapped, 2)


def test_unwrap_with_wrong_master_fails() -> None:
    master, other = MasterKey.generate(), MasterKey.generate()
    wrapped = wrap(master, new_data_key(), 1)
    with pytest.raises(VaultError, match=other.key_id):
        unwrap(other, wrapped, 1)


def test_wrapped_key_cannot_be_opened_as_an_item() -> None:
    # Domain separation: the master key used as a "data key" on a wrapped key fails.
    master = MasterKey.generate()
    wrapped = wrap(master, new_data_key(), 1)
    with pytest.raises(VaultError):
        open_sealed(master.secret, wrapped, "case=1")


@pytest.mark.parametrize("case_id", [-1, True, "1", 1.0])
def test_bad_case_ids_are_refused(case_id: object) -> None:
    master = MasterKey.generate()
    with pytest.raises(VaultError, match="case id"):
        wrap(master, new_data_key(), case_id)  # type: ignore[arg-type]


def test_wrap_refuses_a_data_key_of_wrong_size() -> None:
    with pytest.raises(VaultError, match="32 bytes"):
        wrap(MasterKey.generate(), b"\x00" * 16, 1)


def test_unknown_version_is_refused() -> None:
    master = MasterKey.generate()
    wrapped = bytearray(wrap(master, new_data_key(), 1))
    wrapped[0] = 2
    with pytest.raises(VaultError, match="unknown format version 2"):
        unwrap(master, bytes(wrapped), 1)


# --- rotation ---------------------------------------------------------------------------


def test_rewrap_moves_the_data_key_to_the_new_master() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    data_key = new_data_key()
    sealed = seal(data_key, b"evidence", "item-9")
    wrapped = wrap(old, data_key, 5)
    rewrapped = rewrap(old, new, wrapped, 5)
    assert rewrapped != wrapped
    assert unwrap(new, rewrapped, 5) == data_key
    with pytest.raises(VaultError):
        unwrap(old, rewrapped, 5)
    # Content sealed before the rotation still opens with the same data key.
    assert open_sealed(unwrap(new, rewrapped, 5), sealed, "item-9") == b"evidence"


def test_rewrap_with_the_wrong_old_key_or_case_fails() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    wrapped = wrap(old, new_data_key(), 5)
    with pytest.raises(VaultError):
        rewrap(new, old, wrapped, 5)
    with pytest.raises(VaultError):
        rewrap(old, new, wrapped, 6)


def test_key_ring_drives_a_rotation() -> None:
    old = MasterKey.generate()
    rows = {case: (old.key_id, wrap(old, new_data_key(), case)) for case in range(3)}
    plain = {case: unwrap(old, wrapped, case) for case, (_, wrapped) in rows.items()}
    new = MasterKey.generate()
    ring = KeyRing(new, [old])
    for case, (key_id, wrapped) in list(rows.items()):
        rows[case] = (ring.current.key_id, rewrap(ring.get(key_id), ring.current, wrapped, case))
    after = KeyRing(new)  # the old key is gone
    for case, (key_id, wrapped) in rows.items():
        assert unwrap(after.get(key_id), wrapped, case) == plain[case]


# --- seal / open ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 5 * 1024 * 1024])
def test_seal_open_round_trip(size: int) -> None:
    data_key = new_data_key()
    plaintext = os.urandom(size)
    sealed = seal(data_key, plaintext, "item-1")
    assert len(sealed) == size + SEAL_OVERHEAD
    assert sealed[0] == 1
    if size >= 16:
        assert plaintext[:16] not in sealed
    assert open_sealed(data_key, sealed, "item-1") == plaintext


@pytest.mark.parametrize("sizes", [(), (0,), (32, 0), (32, 1), (32, 100), (32, 5 * 1024 * 1024)])
def test_sealing_parts_is_sealing_them_joined(sizes: tuple[int, ...]) -> None:
    data_key = new_data_key()
    parts = [os.urandom(size) for size in sizes]
    sealed = seal_joined(data_key, parts, "item-1")
    assert len(sealed) == sum(sizes) + SEAL_OVERHEAD
    assert sealed[0] == 1
    assert open_sealed(data_key, bytes(sealed), "item-1") == b"".join(parts)
    with pytest.raises(VaultError):
        open_sealed(data_key, bytes(sealed), "item-2")


def test_seal_is_randomised() -> None:
    data_key = new_data_key()
    assert seal(data_key, b"same", "i") != seal(data_key, b"same", "i")


def test_wrong_item_id_fails() -> None:
    data_key = new_data_key()
    sealed = seal(data_key, b"screenshot bytes", "case-1/item-1")
    for wrong in ("case-1/item-2", "case-1/item-10", "case-1/item-", "Case-1/item-1"):
        with pytest.raises(VaultError, match="item"):
            open_sealed(data_key, sealed, wrong)


def test_wrong_data_key_fails() -> None:
    sealed = seal(new_data_key(), b"x", "i")
    with pytest.raises(VaultError):
        open_sealed(new_data_key(), sealed, "i")


def test_unicode_item_ids_are_bound() -> None:
    data_key = new_data_key()
    sealed = seal(data_key, b"x", "证据-1")
    assert open_sealed(data_key, sealed, "证据-1") == b"x"
    with pytest.raises(VaultError):
        open_sealed(data_key, sealed, "证据-2")


def test_empty_item_id_is_refused() -> None:
    with pytest.raises(VaultError, match="item id"):
        seal(new_data_key(), b"x", "")


@pytest.mark.parametrize("length", [0, 1, 12, 28])
def test_truncated_sealed_item_fails(length: int) -> None:
    data_key = new_data_key()
    sealed = seal(data_key, b"", "i")
    with pytest.raises(VaultError):
        open_sealed(data_key, sealed[:length], "i")


def test_appended_bytes_fail() -> None:
    data_key = new_data_key()
    sealed = seal(data_key, b"hello", "i")
    with pytest.raises(VaultError):
        open_sealed(data_key, sealed + b"\x00", "i")


_DATA_KEY = bytes(range(32))
_MASTER = MasterKey(bytes(range(100, 132)))
_SEALED = seal(_DATA_KEY, b"a forwarded message with a threat in it", "item-7")
_WRAPPED = wrap(_MASTER, _DATA_KEY, 3)


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(_SEALED) - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_in_a_sealed_item_fails(position: int, mask: int) -> None:
    tampered = bytearray(_SEALED)
    tampered[position] ^= mask
    with pytest.raises(VaultError):
        open_sealed(_DATA_KEY, bytes(tampered), "item-7")


@settings(max_examples=200, deadline=None)
@given(position=st.integers(0, WRAPPED_KEY_SIZE - 1), mask=st.integers(1, 255))
def test_any_flipped_byte_in_a_wrapped_key_fails(position: int, mask: int) -> None:
    tampered = bytearray(_WRAPPED)
    tampered[position] ^= mask
    with pytest.raises(VaultError):
        unwrap(_MASTER, bytes(tampered), 3)


@settings(max_examples=100, deadline=None)
@given(plaintext=st.binary(max_size=2048), item_id=st.text(min_size=1, max_size=40))
def test_seal_open_round_trip_property(plaintext: bytes, item_id: str) -> None:
    try:
        sealed = seal(_DATA_KEY, plaintext, item_id)
    except VaultError:
        # Only lone surrogates (not encodable as UTF-8) may be refused.
        with pytest.raises(UnicodeEncodeError):
            item_id.encode("utf-8")
        return
    assert open_sealed(_DATA_KEY, sealed, item_id) == plaintext


# --- journaled inbound events ----------------------------------------------------------


def test_a_journaled_event_opens_only_with_its_master_key_and_event_id() -> None:
    master = MasterKey.generate()
    sealed = seal_event(master, b'{"text": "private words"}', "telegram|42|7")
    assert len(sealed) == len(b'{"text": "private words"}') + SEAL_OVERHEAD
    assert sealed[0] == 1
    assert b"private words" not in sealed
    assert open_event(master, sealed, "telegram|42|7") == b'{"text": "private words"}'
    assert open_event(master, seal_event(master, b"", "e"), "e") == b""
    other = MasterKey.generate()
    for key, event_id in ((master, "telegram|42|8"), (other, "telegram|42|7")):
        with pytest.raises(VaultError) as info:
            open_event(key, sealed, event_id)
        assert str(info.value) == (
            "cannot decrypt a journaled inbound event: "
            f"wrong master key (tried {key.key_id}) or the row was altered"
        )
        assert_no_chained_exception(info.value)
    with pytest.raises(VaultError) as info:
        open_event(master, other_version(sealed), "telegram|42|7")
    assert str(info.value) == "cannot decrypt a journaled inbound event: unknown format version 7"


def test_a_journaled_event_is_neither_a_wrapped_key_nor_an_item() -> None:
    # Both sealed under the master key: the labels keep an event row from being passed
    # off as a case's wrapped data key (same length), and the other way round.
    master = MasterKey.generate()
    data_key = new_data_key()
    as_event = seal_event(master, data_key, "1")
    assert len(as_event) == WRAPPED_KEY_SIZE
    with pytest.raises(VaultError):
        unwrap(master, as_event, 1)
    with pytest.raises(VaultError):
        open_sealed(master.secret, as_event, "1")
    with pytest.raises(VaultError):
        open_event(master, wrap(master, data_key, 1), "1")


# --- what each refusal says ---------------------------------------------------------------
# One line naming what is wrong, for the operator who reads it: the exact words matter.

MASTER = MasterKey.generate()
ALTERED = "wrong data key, wrong item, or the ciphertext was altered"
DATA_KEY = new_data_key()
SEALED = seal(DATA_KEY, b"private words", "item-1")


def other_version(blob: bytes) -> bytes:
    return bytes([7]) + blob[1:]


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (
            lambda: unwrap(MASTER, wrap(MASTER, DATA_KEY, 7)[:-1], 7),
            "wrapped data key for case 7 is 60 bytes, expected 61",
        ),
        (
            lambda: open_sealed(DATA_KEY, SEALED[:10], "item-1"),
            "sealed item 'item-1' is 10 bytes, shorter than the 29-byte minimum",
        ),
        (
            lambda: open_sealed(DATA_KEY, SEALED, "item-2"),
            "cannot decrypt item 'item-2': " + ALTERED,
        ),
        (
            lambda: open_sealed(DATA_KEY, other_version(SEALED), "item-1"),
            "cannot decrypt item 'item-1': unknown format version 7",
        ),
        (lambda: seal(DATA_KEY, "not bytes", "item-1"), "encryption failed: TypeError"),
        (lambda: wrap(MASTER, DATA_KEY, -1), "case id must be a non-negative integer"),
        (lambda: seal(DATA_KEY, b"x", ""), "item id must be a non-empty string"),
        (lambda: seal(DATA_KEY, b"x", "\ud800"), "item id is not valid Unicode text"),
        (lambda: ItemOpener(b"short"), "a data key must be exactly 32 bytes"),
        (
            lambda: ItemOpener(DATA_KEY).open(SEALED[:28], "item-1"),
            "sealed item 'item-1' is shorter than the minimum",
        ),
        (
            lambda: ItemOpener(DATA_KEY).open(SEALED, "item-2"),
            "cannot decrypt item 'item-2': " + ALTERED,
        ),
    ],
)
def test_each_vault_refusal_says_what_is_wrong(attempt: Callable[[], object], message: str) -> None:
    with pytest.raises(VaultError) as info:
        attempt()
    assert str(info.value) == message


def test_an_item_opener_opens_what_seal_sealed_and_nothing_else() -> None:
    opener = ItemOpener(DATA_KEY)
    assert opener.open(SEALED, "item-1") == b"private words"
    assert opener.open(seal(DATA_KEY, b"", "empty"), "empty") == b""  # exactly the overhead
    with pytest.raises(VaultError):
        ItemOpener(new_data_key()).open(SEALED, "item-1")


@pytest.mark.parametrize(
    ("attempt", "message"),
    [
        (lambda: MasterKey(b"short"), "a master key must be exactly 32 bytes"),
        (
            lambda: KeyRing(MASTER).get("0" * 16),
            f"no loaded master key has id {'0' * 16!r}; load the key that wrapped this "
            f"data (loaded: {MASTER.key_id})",
        ),
        (
            lambda: load_master_key(None, None),
            "no master key: set HAVEN_MASTER_KEY (base64 of 32 bytes) or configure a key file",
        ),
        (
            lambda: load_master_key(None, "X" * 64),
            "HAVEN_MASTER_KEY decodes to 48 bytes; a master key is exactly 32 bytes "
            "(base64 of 32 random bytes)",
        ),
    ],
)
def test_each_master_key_refusal_says_what_is_wrong(
    attempt: Callable[[], object], message: str
) -> None:
    with pytest.raises(MasterKeyError) as info:
        attempt()
    assert str(info.value) == message


def test_a_ring_lists_every_loaded_key_when_one_is_missing() -> None:
    old = MasterKey.generate()
    with pytest.raises(MasterKeyError) as info:
        KeyRing(MASTER, [old]).get("f" * 16)
    assert str(info.value).endswith(f"(loaded: {MASTER.key_id}, {old.key_id})")


def test_key_file_errors_name_the_key_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(KeyFileError) as missing:
        load_master_key(path, None)
    assert str(missing.value) == f"key file {path} does not exist"
    create_key_file(path)
    with pytest.raises(KeyFileError) as again:
        create_key_file(path)
    assert str(again.value).startswith(f"key file {path} already exists;")


def test_hex_keys_may_be_upper_case_and_base64_must_be_clean() -> None:
    secret = os.urandom(MASTER_KEY_SIZE)
    assert decode_master_key(secret.hex().upper(), "test").secret == secret
    text = base64.b64encode(secret).decode()
    with pytest.raises(MasterKeyError, match="not base64"):
        decode_master_key(text[:10] + "*" + text[10:], "test")
