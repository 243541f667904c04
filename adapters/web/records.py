"""What the web chat keeps across restarts, behind an interface the composition root
provides: adapters never touch storage themselves.

Only hashes of recovery codes and passphrases reach it, never the codes. Its methods are
each one transaction; `post` is how a message is delivered to the web: once it returns,
the message is in the person's mailbox, whether or not a page is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol


class ChatRecord(Protocol):
    @property
    def chat_id(self) -> str: ...

    @property
    def epoch(self) -> int: ...

    @property
    def passphrase(self) -> str: ...


class PushTarget(Protocol):
    """A browser's push subscription: where its push service is, and its keys."""

    @property
    def endpoint(self) -> str: ...

    @property
    def p256dh(self) -> str: ...

    @property
    def auth(self) -> str: ...

    @property
    def locale(self) -> str: ...


class OwedPush(Protocol):
    """A notification owed to one subscription, claimed for sending until a time."""

    @property
    def id(self) -> int: ...

    @property
    def subscription(self) -> PushTarget: ...

    @property
    def attempts(self) -> int: ...

    @property
    def claimed_until(self) -> datetime: ...


class ChatRecords(Protocol):
    async def create(self, chat_id: str, code_hash: bytes) -> None:
        """A new chat, found again by the hash of its recovery code."""

    async def get(self, chat_id: str) -> ChatRecord | None: ...

    async def by_code(self, code_hash: bytes) -> ChatRecord | None: ...

    async def set_passphrase(self, chat_id: str, passphrase_hash: str) -> None: ...

    async def lock(self, chat_id: str) -> int:
        """Raise the chat's epoch, ending every session signed before; the new epoch."""

    async def post(self, chat_id: str, body: str, *, notify: bool = False) -> tuple[int, int]:
        """Append a message (JSON) to the chat's mailbox; its id, increasing per chat, and
        the id of the chat's message before it (0 for the first). With `notify`, a push
        notification is owed to the chat's subscribed browsers, in the same transaction."""

    async def since(self, chat_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        """The mailbox after id `after`, oldest first (the newest `limit` at most)."""

    async def one(self, chat_id: str, message_id: int) -> str | None:
        """One message of the chat's mailbox, or None."""

    # ---- Web Push -------------------------------------------------------------------

    async def subscribe(
        self, chat_id: str, endpoint: str, p256dh: str, auth: str, locale: str, most: int
    ) -> bool:
        """Keep a browser's subscription; False (nothing kept) when the chat has `most`
        other browsers subscribed already."""

    async def unsubscribe(self, chat_id: str, endpoint: str) -> None: ...

    async def claim_pushes(self, lease_seconds: float, limit: int) -> Sequence[OwedPush]:
        """Notifications due now, each claimed for `lease_seconds`."""

    async def push_done(self, push_id: int, claimed_until: datetime) -> None:
        """Sent, or given up: nothing owed (unless more was owed since it was claimed)."""

    async def push_later(
        self, push_id: int, claimed_until: datetime, attempts: int, delay_seconds: float
    ) -> None:
        """Try again in `delay_seconds`; `attempts` is how many failed before this one."""

    async def push_gone(self, push_id: int) -> None:
        """The push service no longer knows the subscription: delete it."""

    async def next_push_in(self) -> float | None:
        """Seconds until the next notification is due (negative: overdue), None: none."""
