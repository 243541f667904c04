"""Each case's data key, stored only wrapped by the master key (see storage/vault.py).

A row is created with the case's first item. Erasing a case sets ``wrapped_key`` to NULL
and ``erased_at``: from then on its ciphertext, wherever copies of it are, is noise.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.keys import KeyRing, MasterKeyError
from storage.prepared import Prepared
from storage.schema import case_keys
from storage.vault import VaultError, new_data_key, unwrap, wrap


class CaseKeyError(Exception):
    """A case's data key cannot be had. One line; never key material."""


class CaseKeyErased(CaseKeyError):
    """The case was crypto-shredded: its content can never be read again."""


async def data_key(conn: AsyncConnection, ring: KeyRing, case_id: int) -> bytes:
    """The case's data key, unwrapped."""
    row = await _row(conn, case_id)
    if row is None:
        raise CaseKeyError(f"case {case_id} has no data key")
    return _unwrapped(ring, row, case_id)


async def data_key_for_new_item(
    conn: AsyncConnection, ring: KeyRing, case_id: int, now: datetime
) -> bytes:
    """The case's data key, made and stored (wrapped) with the case's first item."""
    row = await _row(conn, case_id)
    if row is not None:
        return _unwrapped(ring, row, case_id)
    key = new_data_key()
    await conn.execute(
        insert(case_keys).values(
            case_id=case_id,
            wrapped_key=wrap(ring.current, key, case_id),
            master_key_id=ring.current.key_id,
            created_at=now,
        )
    )
    return key


async def any_stored(conn: AsyncConnection) -> bool:
    """Whether any data key was ever stored: then the master key must not be replaced."""
    return bool((await conn.execute(select(exists().select_from(case_keys)))).scalar())


async def wrapping_key_ids(conn: AsyncConnection) -> set[str]:
    """The ids of the master keys that wrap the stored (not erased) case keys."""
    query = select(case_keys.c.master_key_id).where(case_keys.c.wrapped_key.is_not(None)).distinct()
    return {str(key_id) for (key_id,) in (await conn.execute(query)).all()}


_ROW = Prepared(
    select(case_keys.c.wrapped_key, case_keys.c.master_key_id).where(
        case_keys.c.case_id == bindparam("case_key")
    )
)


async def _row(conn: AsyncConnection, case_id: int) -> tuple[bytes | None, str] | None:
    """The case's wrapped data key (None once erased) and its master key's id."""
    found = await _ROW.rows(conn, {"case_key": case_id})
    return (found[0][0], found[0][1]) if found else None


def _unwrapped(ring: KeyRing, row: tuple[bytes | None, str], case_id: int) -> bytes:
    wrapped, master_key_id = row
    if wrapped is None:
        raise CaseKeyErased(f"the data key of case {case_id} was erased")
    try:
        return unwrap(ring.get(master_key_id), bytes(wrapped), case_id)
    except (MasterKeyError, VaultError) as exc:
        raise CaseKeyError(str(exc)) from None
