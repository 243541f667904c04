"""Files that exist only to be handed over: a victim's `/export` bundle.

A bundle is the case's evidence in plaintext. Haven writes it under DATA_DIR/exports so
that the outbox can deliver it, however late (a platform outage, a retry after an hour).
Once a platform that takes the file's bytes (Telegram, Slack) has it, the copy in the
victim's chat is theirs and Haven's has no purpose left: it is deleted. The console
instead shows the person Haven's own copy (its path), which therefore stays.

A file named by a row still unsent, or by a dead letter that `haven outbox retry` may
send again, is kept. A crash between a delivery and the deletion, or before the message
naming a new bundle was written, leaves a file behind: the sweep at start removes every
file there that no message still needs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Collection, Iterable
from pathlib import Path

from storage import outbox
from storage.database import Database

log = logging.getLogger(__name__)


class HandoverFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = _normal(str(directory))

    def holds(self, path: str) -> bool:
        """Whether ``path`` is one of these files, whatever a row names: only files
        directly in the directory are ever deleted ("exports/../x" is not one)."""
        return _normal(path).parent == self.directory

    async def remove(self, paths: Iterable[str]) -> None:
        """Delete delivered files; one that cannot be deleted is logged and left to the
        next sweep."""
        for path in paths:
            if not self.holds(path):
                continue
            try:
                await asyncio.to_thread(Path(path).unlink, missing_ok=True)
            except OSError as exc:
                log.warning("a delivered export could not be deleted: %s", exc.strerror)

    async def sweep(self, db: Database, uploading: Collection[str]) -> int:
        """Delete every file of the directory no message needs any more; return how
        many. ``uploading``: the platforms whose delivery hands the bytes over. For the
        start, before anything new is written there."""
        present = await asyncio.to_thread(self._files)
        if not present:
            return 0  # the usual case: no reading of the outbox at all
        async with db.transaction() as conn:
            rows = await outbox.file_rows(conn)
        needed = {
            _normal(path)
            for path, state, platform in rows
            if state != "sent" or platform not in uploading
        }
        leftover = [path for path in present if path not in needed]
        await self.remove(str(path) for path in leftover)
        if leftover:
            log.info("removed %d export(s) no message needs any more", len(leftover))
        return len(leftover)

    def _files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return [path for path in self.directory.iterdir() if path.is_file()]


def _normal(path: str) -> Path:
    """The path with "." and ".." taken out, without asking the file system."""
    return Path(os.path.normpath(path))
