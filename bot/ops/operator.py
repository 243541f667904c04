"""What the operator commands (`haven audit`, `export`, `hold`, `erase`, …) work on.

:func:`open_store` opens the database, the blob store and both keys the way Haven does at
start-up, without adapters, reminders or the outbox sender. Every operator action is a
custody event naming :data:`bot.evidence.store.OPERATOR`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.evidence.keyfiles import KeySetupError, open_keyring, open_log_key
from bot.evidence.store import Store, blob_store
from bot.runtime import StartupError
from storage.audit import Finding, audit
from storage.data_dir import prepare_data_dir
from storage.database import Database
from storage.work_progress import Progress, no_progress


@asynccontextmanager
async def open_store(config: Config, clock: Clock | None = None) -> AsyncIterator[Store]:
    prepare_data_dir(config.data_dir)
    db = Database.open(config.database_url, password=config.secrets.database_password)
    try:
        await db.migrate()
        try:
            keyring = await open_keyring(config, db)
            log_key = await open_log_key(config, db)
        except KeySetupError as exc:
            raise StartupError(str(exc)) from None
        blobs = blob_store(db, config.data_dir)
        yield Store(config, db, blobs, keyring, log_key, clock or SystemClock())
    finally:
        await db.close()


async def audit_store(store: Store, progress: Progress = no_progress) -> list[Finding]:
    """`haven audit verify`: every mismatch between the log, the rows and the blobs."""
    return await audit(store.db, store.blobs, store.keyring, store.log_key.public_key(), progress)
