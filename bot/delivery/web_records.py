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
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bot.clock import Clock, SystemClock
from storage import web_chats, web_push
from storage.database import Database
from storage.secret_files import SecretFileError, create_secret_file, read_secret_file
from storage.web_chats import WebChatRow
from storage.web_push import OwedPush, PushSubscription

WEB_KEY_FILE = "web.key"
PUSH_KEY_FILE = "web-push.key"
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


def web_push_key(data_dir: Path) -> bytes:
    """The VAPID private key (P-256, PEM) that signs Web Push requests: read from
    web-push.key (mode 0600), created if absent. Its public half is derived from it and
    given to the page, so the pair can never disagree. Raises SecretFileError when the
    file cannot be read or holds no P-256 private key.

    Losing it ends every subscription (browsers tie them to the public key): people
    turn notifications on again from the page."""
    path = data_dir / PUSH_KEY_FILE
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        create_secret_file(path, pem, "web push key")
    pem = read_secret_file(path, "web push key", 4096)
    try:
        loaded = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        raise SecretFileError(f"web push key {path} is not a PEM private key") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise SecretFileError(f"web push key {path} is not a P-256 key")
    return pem


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

    async def post(self, chat_id: str, body: str, *, notify: bool = False) -> tuple[int, int]:
        async with self.db.transaction() as conn:
            now = self.clock.now()
            posted = await web_chats.post(conn, chat_id, body, now)
            if notify:
                await web_push.owe(conn, chat_id, now)
            return posted

    async def since(self, chat_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        async with self.db.transaction() as conn:
            return await web_chats.since(conn, chat_id, after, limit)

    async def one(self, chat_id: str, message_id: int) -> str | None:
        async with self.db.transaction() as conn:
            return await web_chats.one(conn, chat_id, message_id)

    # ---- Web Push -------------------------------------------------------------------

    async def subscribe(
        self, chat_id: str, endpoint: str, p256dh: str, auth: str, locale: str, most: int
    ) -> bool:
        subscription = PushSubscription(endpoint, p256dh, auth, locale)
        async with self.db.transaction() as conn:
            await web_push.unsubscribe(conn, chat_id, endpoint)
            if await web_push.count(conn, chat_id) >= most:
                return False
            await web_push.subscribe(conn, chat_id, subscription, self.clock.now())
            return True

    async def unsubscribe(self, chat_id: str, endpoint: str) -> None:
        async with self.db.transaction() as conn:
            await web_push.unsubscribe(conn, chat_id, endpoint)

    async def claim_pushes(self, lease_seconds: float, limit: int) -> Sequence[OwedPush]:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            return await web_push.claim(conn, now, now + timedelta(seconds=lease_seconds), limit)

    async def push_done(self, push_id: int, claimed_until: datetime) -> None:
        async with self.db.transaction() as conn:
            await web_push.sent(conn, push_id, claimed_until)

    async def push_later(
        self, push_id: int, claimed_until: datetime, attempts: int, delay_seconds: float
    ) -> None:
        at = self.clock.now() + timedelta(seconds=delay_seconds)
        async with self.db.transaction() as conn:
            await web_push.retry(conn, push_id, claimed_until, attempts, at)

    async def push_gone(self, push_id: int) -> None:
        async with self.db.transaction() as conn:
            await web_push.gone(conn, push_id)

    async def next_push_in(self) -> float | None:
        async with self.db.transaction() as conn:
            due = await web_push.next_due(conn)
        return None if due is None else (due - self.clock.now()).total_seconds()
