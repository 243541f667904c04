"""`haven keys rotate`: a new master key, every case's data key re-wrapped under it.

Stop Haven first: a case key made meanwhile would be wrapped by the old key.

Each step leaves every item readable, so the rotation can be interrupted anywhere and
run again to finish:

1. the new key is written to ``<key file>.next`` (mode 0600, fsynced), or an existing
   one — left by an interrupted rotation — is reused; from then on Haven loads both;
2. each case key is re-wrapped in its own transaction, which stores the new wrapping
   and the new key's id together (storage/case_keys.py looks the key up by that id);
3. once no case key names any other key, a "rekey" custody event is logged and the new
   file atomically replaces the old one, which destroys the old key.

Key ids (a hash prefix) may be shown; key material never is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, update

from bot.evidence.keyfiles import master_key_path, pending_master_key_path
from bot.evidence.store import OPERATOR, OperatorError, Store
from storage import custody
from storage.keys import KeyRing, MasterKeyError, create_key_file, load_master_key
from storage.leaves import CustodyEvent
from storage.schema import case_keys
from storage.secret_files import replace_secret_file
from storage.vault import VaultError, rewrap
from storage.work_progress import Progress, no_progress

REKEY = "rekey"


@dataclass(frozen=True)
class Rotated:
    old_key_id: str
    new_key_id: str
    rewrapped: int


REWRAP_STAGE = "re-wrapping case keys under the new master key (cases)"


async def rotate(
    store: Store,
    *,
    after_each: Callable[[int], None] | None = None,
    progress: Progress = no_progress,
) -> Rotated:
    """Rotate the master key file; ``after_each(case_id)`` runs after each re-wrap (tests)."""
    config = store.config
    if config.secrets.master_key:
        raise OperatorError(
            "the master key comes from HAVEN_MASTER_KEY; rotate it where it is kept, "
            "not with `haven keys rotate`"
        )
    path, pending = master_key_path(config), pending_master_key_path(config)
    try:
        old = load_master_key(path, None)
        new = load_master_key(pending, None) if pending.exists() else create_key_file(pending)
    except MasterKeyError as exc:
        raise OperatorError(str(exc)) from None
    ring = KeyRing(new, [old, *store.keyring])
    rewrapped = 0
    while True:
        async with store.db.transaction() as conn:
            query = select(case_keys.c.case_id).where(
                case_keys.c.wrapped_key.is_not(None), case_keys.c.master_key_id != new.key_id
            )
            stale = list((await conn.execute(query)).scalars())
        if not stale:
            break
        total = rewrapped + len(stale)
        for case_id in stale:
            await _rewrap_one(store, ring, case_id)
            rewrapped += 1
            progress(REWRAP_STAGE, rewrapped, total)
            if after_each is not None:
                after_each(case_id)
    async with store.db.transaction() as conn:
        reason = f"master key {old.key_id} replaced by {new.key_id}"
        event = CustodyEvent(actor=OPERATOR, action=REKEY, at=store.clock.now(), reason=reason)
        await custody.record(conn, event)
    replace_secret_file(pending, path)
    return Rotated(old.key_id, new.key_id, rewrapped)


async def _rewrap_one(store: Store, ring: KeyRing, case_id: int) -> None:
    async with store.db.transaction() as conn:
        query = select(case_keys.c.wrapped_key, case_keys.c.master_key_id).where(
            case_keys.c.case_id == case_id
        )
        row = (await conn.execute(query)).mappings().first()
        if row is None or row["wrapped_key"] is None:
            return  # erased meanwhile
        if row["master_key_id"] == ring.current.key_id:
            return
        try:
            old = ring.get(row["master_key_id"])
            wrapped = rewrap(old, ring.current, bytes(row["wrapped_key"]), case_id)
        except (MasterKeyError, VaultError) as exc:
            raise OperatorError(f"case {case_id}'s data key cannot be re-wrapped: {exc}") from None
        await conn.execute(
            update(case_keys)
            .where(case_keys.c.case_id == case_id)
            .values(wrapped_key=wrapped, master_key_id=ring.current.key_id)
        )
