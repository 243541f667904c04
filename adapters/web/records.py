"""What the web chat keeps across restarts, behind an interface the composition root
provides: adapters never touch storage themselves.

Only hashes of recovery codes and passphrases reach it, never the codes. Its methods are
each one transaction; `post` is how a message is delivered to the web: once it returns,
the message is in the person's mailbox, whether or not a page is open.
"""

from __future__ import annotations

from typing import Protocol


class ChatRecord(Protocol):
    @property
    def chat_id(self) -> str: ...

    @property
    def epoch(self) -> int: ...

    @property
    def passphrase(self) -> str: ...


class ChatRecords(Protocol):
    async def create(self, chat_id: str, code_hash: bytes) -> None:
        """A new chat, found again by the hash of its recovery code."""

    async def get(self, chat_id: str) -> ChatRecord | None: ...

    async def by_code(self, code_hash: bytes) -> ChatRecord | None: ...

    async def set_passphrase(self, chat_id: str, passphrase_hash: str) -> None: ...

    async def lock(self, chat_id: str) -> int:
        """Raise the chat's epoch, ending every session signed before; the new epoch."""

    async def post(self, chat_id: str, body: str) -> tuple[int, int]:
        """Append a message (JSON) to the chat's mailbox; its id, increasing per chat, and
        the id of the chat's message before it (0 for the first)."""

    async def since(self, chat_id: str, after: int, limit: int) -> list[tuple[int, str]]:
        """The mailbox after id `after`, oldest first (the newest `limit` at most)."""

    async def one(self, chat_id: str, message_id: int) -> str | None:
        """One message of the chat's mailbox, or None."""
