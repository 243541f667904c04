"""The web chat's durable state, for the web adapter (adapters/web/records.py describes
what it needs): chats, recovery code hashes, lock epochs and mailboxes, in the database;
and the secret that signs its cookies, in a file of the data directory.

The adapter is handed this object by the composition root and never sees the database.
The adapter is built before the database is opened (Haven.open needs the adapters), so
the composition root opens these records right after: nothing reaches them before the
adapters start.

Why a secret file and not a database row: the cookies only prove a session; losing the
file logs everyone out, and each person comes back with their recovery code, whose hash
does not depend on it. Several instances behind one load balancer share the file.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from bot.clock import Clock, SystemClock
from storage import web_chats
from storage.database import Database
from storage.secret_files import SecretFileError, create_secret_file, read_secret_file
from storage.web_chats import WebChatRow

WEB_KEY_FILE = "web.key"
_SECRET_BYTES = 32


def web_secret(data_dir: Path) -> bytes:
    """The web chat's signing secret: read from web.key (mode 0600), created if absent.
    Raises SecretFileError, in one line, when it cannot be."""
    path = data_dir / WEB_KEY_FILE
    if not path.exists():
        create_secret_file(path, secrets.token_bytes(_SECRET_BYTES), "web chat key")
    secret = read_secret_file(path, "web chat key", 1024)
    if len(secret) < _SECRET_BYTES:
        raise SecretFileError(f"web chat key {path} is shorter than {_SECRET_BYTES} bytes")
    return secret


class WebRecords:
    def __init__(self, db: Database | None = None, clock: Clock | None = None) -> None:
        self._db = db
        self.clock = clock or SystemClock()

    def open(self, db: Database, clock: Clock) -> None:
        self._db = db
        self.clock = clock

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the web chat's records were used before the database opened")
        return self._db

    async def create(self, chat_id: str, code_hash: bytes) -> None:
        async with self.db.transaction() as conn:
            await web_chats.create(conn, chat_id, code_hash, self.clock.now())

    async def get(self, chat_id: str) -> WebChatRow | None:
        async with self.db.transaction() as conn:
            return await web_chats.get(conn, chat_id)

    async def by_code(self, code_hash: bytes) -> WebChatRow | None:
        async with self.db.transaction() as conn:
            return await web_chats.by_code(conn, code_hash)

    async def set_passphrase(self, chat_id: str, passphrase_hash: str) -> None:
        async with self.db.transaction() as conn:
            await web_chats.set_passphrase(conn, chat_id, passphrase_hash)

    async def lock(self, chat_id: str) -> int:
        async with self.db.transaction() as conn:
            return await web_chats.next_epoch(conn, chat_id)

    async def post(self, chat_id: str, body: str) -> tuple[int, int]:
        async with self.db.transaction() as conn:
            return await web_chats.post(conn, chat_id, body, self.clock.now())

    async def since(self, chat_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        async with self.db.transaction() as conn:
            return await web_chats.since(conn, chat_id, after, limit)

    async def one(self, chat_id: str, message_id: int) -> str | None:
        async with self.db.transaction() as conn:
            return await web_chats.one(conn, chat_id, message_id)
