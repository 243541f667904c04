"""`haven migrate --to postgresql+asyncpg://…`: a SQLite deployment moved to PostgreSQL.

Run while Haven is stopped. The rows and the blob files of the configured SQLite data
directory are copied into an empty PostgreSQL database (storage/transfer.py), then the
copy is audited as `haven audit verify` would audit it — every leaf, node, row and blob
recomputed with the deployment's own keys — before the operator is told to switch
`[storage] database_url`. The key files stay where they are: copy them, not the
database, to each instance.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from bot.config import Config
from bot.evidence.store import OperatorError, Store
from bot.ops.operator import audit_store, open_store
from storage.blob_chunks import DatabaseBlobStore
from storage.blobs import BlobStore
from storage.database import Database
from storage.transfer import TargetNotEmpty, copy_deployment

POSTGRESQL_SCHEME = "postgresql+asyncpg://"


async def migrate(config: Config, target_url: str, say: Callable[[str], None] = print) -> int:
    """Copy, verify, report; 0 when the copy audits clean."""
    if not target_url.startswith(POSTGRESQL_SCHEME):
        raise OperatorError(f"--to expects a URL starting with {POSTGRESQL_SCHEME}")
    if not config.database_url.startswith("sqlite"):
        raise OperatorError("migrate copies a SQLite deployment; this one is not on SQLite")
    progress = _Progress()
    async with open_store(config) as source:
        assert isinstance(source.blobs, BlobStore)
        target = Database.open(target_url, password=config.secrets.database_password)
        try:
            try:
                copied = await copy_deployment(source.db, source.blobs, target, progress)
            except TargetNotEmpty as exc:
                raise OperatorError(str(exc)) from None
            progress.done()
            rows = sum(copied.rows.values())
            size = f"{copied.blob_bytes:,} bytes"
            say(f"copied {rows:,} row(s) and {copied.blobs:,} blob(s) ({size})")
            say("verifying the copy (the evidence log, every row and blob) ...")
            blobs = DatabaseBlobStore(target)
            copy = Store(config, target, blobs, source.keyring, source.log_key, source.clock)
            findings = await audit_store(copy)
        finally:
            await target.close()
    for finding in findings:
        say(str(finding))
    if findings:
        say(f"migration NOT verified: {len(findings)} finding(s); keep running on SQLite")
        return 1
    say(
        "migration verified: the copy's log, records and content agree.\n"
        f'Next: set [storage] database_url = "{target_url}" (this haven.db is no longer\n'
        "used), and copy the key files (master key, log signing key) to every instance."
    )
    return 0


class _Progress:
    """On a terminal, one line rewritten in place; otherwise a line per table and at
    most one a second in between, so a log is not flooded."""

    def __init__(self) -> None:
        self.terminal = sys.stderr.isatty()
        self.topic = ""
        self.shown_at = 0.0

    def __call__(self, line: str) -> None:
        if self.terminal:
            print(f"\r\033[K{line}", end="", file=sys.stderr, flush=True)
            return
        topic = line.split(":", 1)[0]
        if topic != self.topic or time.monotonic() - self.shown_at >= 1.0:
            print(line, file=sys.stderr, flush=True)
            self.topic, self.shown_at = topic, time.monotonic()

    def done(self) -> None:
        if self.terminal:
            print(file=sys.stderr)
