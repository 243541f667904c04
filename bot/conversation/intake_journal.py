"""The intake journal: an inbound evidence event is kept before anything can lose it.

A platform counts an event delivered once Haven acknowledges it (Telegram at the next
getUpdates, Slack with the HTTP 200), yet keeping it takes a download and a transaction.
So an adapter hands each forward or file to `IntakeJournal.keep` before acknowledging it:
the event (its text, origin and the platform's file ids, not the file bytes) is sealed
with the master key and written. The transaction that records the event as handled
deletes the row (bot/conversation/inbound_log.py); rows still here at start are events
a stop or crash interrupted, and are handed to the core again (`waiting`), their files
fetched anew by their platform ids. A redelivery of one already kept is recognised by the
message log, as any redelivery is.

With several instances on PostgreSQL, each row names the instance that journaled it
(its coordination identity, storage/coordinator.py). An instance replays only the rows
of instances that are gone — those whose identity lock it can take — so it never
handles an event another live instance is handling, and it looks again every few
seconds while it runs (bot/cluster/journal_watch.py): a host that dies for good leaves
no event behind. Taking the dead instance's lock first makes two survivors take over
its rows once between them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapter import InboundHandler
from bot.clock import Clock
from bot.events import (
    Attachment,
    ChatKind,
    ChatRef,
    ForwardOrigin,
    Identity,
    Inbound,
    InboundKind,
    OriginKind,
)
from storage import intake_journal
from storage.coordination import Scope
from storage.coordinator import Coordinator, CoordinatorLost
from storage.database import Database
from storage.intake_journal import JournalRow
from storage.keys import KeyRing, MasterKeyError
from storage.vault import VaultError, open_event, seal_event

log = logging.getLogger(__name__)

JOURNALED_KINDS = (InboundKind.FORWARD, InboundKind.ATTACHMENT)
# An event whose replay failed this often (the core raised each time) is given up on,
# so one poisoned row cannot fail every start. Starts that a stop or crash interrupted
# do not count: only a replay that ended in an error does.
MAX_REPLAYS = 3

FileFetch = Callable[[str, int | None], Awaitable[bytes]]


def journaled(inbound: Inbound) -> bool:
    """Evidence from a private chat that can be fetched again: every file has the
    platform's id (an upload whose bytes Haven already holds is not journaled)."""
    return (
        inbound.kind in JOURNALED_KINDS
        and inbound.chat.kind is ChatKind.PRIVATE
        and bool(inbound.message_id)
        and all(attachment.platform_file_id for attachment in inbound.attachments)
    )


class IntakeJournal:
    def __init__(
        self, db: Database, ring: KeyRing, clock: Clock, coordinator: Coordinator | None = None
    ) -> None:
        self.db = db
        self.ring = ring
        self.clock = clock
        self.coordinator = coordinator

    async def keep(self, inbound: Inbound) -> None:
        """Durably journal one event (evidence only; anything else returns at once)."""
        if not journaled(inbound):
            return
        master = self.ring.current
        sealed = seal_event(master, encode(inbound), _event_id(inbound))
        async with self.db.transaction() as conn:
            await intake_journal.keep(
                conn,
                platform=inbound.chat.platform,
                chat_id=inbound.chat.chat_id,
                message_id=inbound.message_id,
                master_key_id=master.key_id,
                sealed=sealed,
                now=self.clock.now(),
                owner=self.coordinator.identity if self.coordinator else None,
            )

    async def waiting(self, platform: str, fetch: FileFetch) -> list[Inbound]:
        """The platform's events a stop or crash left unhandled, oldest first; files are
        fetched again with `fetch`. With several instances: those of instances that are
        gone, taken over by this one (none of its own: it is handling them)."""
        if self.coordinator is None:
            async with self.db.transaction() as conn:
                rows = await intake_journal.waiting(conn, platform)
                return await self._replayable(conn, rows, fetch)
        return await self._taken_over(self.coordinator, platform, fetch)

    async def _taken_over(
        self, coordinator: Coordinator, platform: str, fetch: FileFetch
    ) -> list[Inbound]:
        async with self.db.transaction() as conn:
            owners = await intake_journal.owners(conn, platform)
        names = {owner or "" for owner in owners} - {coordinator.identity}
        try:
            gone = await coordinator.try_locks(Scope.INSTANCE, sorted(names))
        except CoordinatorLost:
            return []  # the next look, once the session is back
        events: list[Inbound] = []
        try:
            for name in sorted(gone):
                async with self.db.transaction() as conn:
                    rows = await intake_journal.take_over(
                        conn, platform, name or None, coordinator.identity
                    )
                    events += await self._replayable(conn, rows, fetch)
        finally:
            await coordinator.unlock(Scope.INSTANCE, sorted(gone))
        if events:
            log.info("%s: took over %d event(s) of an instance that is gone", platform, len(events))
        return events

    async def _replayable(
        self, conn: AsyncConnection, rows: list[JournalRow], fetch: FileFetch
    ) -> list[Inbound]:
        events = []
        for row in rows:
            inbound = self._opened(row, fetch)
            if inbound is None or row.attempts >= MAX_REPLAYS:
                log.error(
                    "%s: a journaled event could not be handled after %d tries; dropped",
                    row.platform,
                    row.attempts,
                )
                await intake_journal.drop(conn, row.id)
                continue
            events.append(inbound)
        return events

    async def resume(self, platform: str, fetch: FileFetch, handler: InboundHandler) -> int:
        """Hand the events `waiting` finds to ``handler``, one after another; how many."""
        events = await self.waiting(platform, fetch)
        for inbound in events:
            try:
                await handler(inbound)
            except Exception:
                log.exception("%s: a resumed %s could not be handled", platform, inbound.kind)
                await self.failed(inbound)
        return len(events)

    async def failed(self, inbound: Inbound) -> None:
        """Handling a replayed event ended in an error: one try fewer is left."""
        chat = inbound.chat
        async with self.db.transaction() as conn:
            await intake_journal.failed(conn, chat.platform, chat.chat_id, inbound.message_id)

    def _opened(self, row: JournalRow, fetch: FileFetch) -> Inbound | None:
        event_id = f"{row.platform}|{row.chat_id}|{row.message_id}"
        try:
            plain = open_event(self.ring.get(row.master_key_id), row.sealed, event_id)
            return decode(plain, fetch)
        except (MasterKeyError, VaultError, ValueError, KeyError, TypeError) as exc:
            log.error("%s: a journaled event cannot be read: %s", row.platform, exc)
            return None


def _event_id(inbound: Inbound) -> str:
    return f"{inbound.chat.platform}|{inbound.chat.chat_id}|{inbound.message_id}"


def encode(inbound: Inbound) -> bytes:
    origin = inbound.forward_origin
    document: dict[str, Any] = {
        "kind": inbound.kind.value,
        "identity": [
            inbound.identity.platform,
            inbound.identity.user_id,
            inbound.identity.display_name,
        ],
        "chat": [inbound.chat.platform, inbound.chat.chat_id, inbound.chat.kind.value],
        "received_at": inbound.received_at.isoformat(),
        "message_id": inbound.message_id,
        "text": inbound.text,
        "media_group_id": inbound.media_group_id,
        "locale_hint": inbound.locale_hint,
        "reply_to": inbound.reply_to,
        "origin": None if origin is None else _origin_fields(origin),
        "attachments": [
            [a.kind, a.platform_file_id, a.file_name, a.mime_type, a.size]
            for a in inbound.attachments
        ],
    }
    return json.dumps(document, ensure_ascii=False).encode()


def decode(data: bytes, fetch: FileFetch) -> Inbound:
    document = json.loads(data)
    platform, user_id, display_name = document["identity"]
    chat_platform, chat_id, chat_kind = document["chat"]
    origin = document["origin"]
    return Inbound(
        kind=InboundKind(document["kind"]),
        identity=Identity(platform, user_id, display_name),
        chat=ChatRef(chat_platform, chat_id, ChatKind(chat_kind)),
        received_at=datetime.fromisoformat(document["received_at"]),
        message_id=document["message_id"],
        text=document["text"],
        forward_origin=None if origin is None else _origin_of(origin),
        attachments=tuple(
            _attachment(kind, file_id, name, mime, size, fetch)
            for kind, file_id, name, mime, size in document["attachments"]
        ),
        media_group_id=document["media_group_id"],
        locale_hint=document["locale_hint"],
        reply_to=document["reply_to"],
    )


def _attachment(
    kind: str, file_id: str, name: str, mime: str, size: int | None, fetch: FileFetch
) -> Attachment:
    async def fetch_again() -> bytes:
        return await fetch(file_id, size)

    return Attachment(
        kind=kind,
        fetch=fetch_again,
        file_name=name,
        mime_type=mime,
        size=size,
        platform_file_id=file_id,
    )


def _origin_fields(origin: ForwardOrigin) -> dict[str, Any]:
    return {
        "kind": origin.kind.value,
        "sender_name": origin.sender_name,
        "sender_id": origin.sender_id,
        "chat_title": origin.chat_title,
        "original_date": origin.original_date.isoformat() if origin.original_date else None,
        "original_message_id": origin.original_message_id,
        "author_signature": origin.author_signature,
        "permalink": origin.permalink,
    }


def _origin_of(fields: dict[str, Any]) -> ForwardOrigin:
    date = fields["original_date"]
    return ForwardOrigin(
        kind=OriginKind(fields["kind"]),
        sender_name=fields["sender_name"],
        sender_id=fields["sender_id"],
        chat_title=fields["chat_title"],
        original_date=datetime.fromisoformat(date) if date else None,
        original_message_id=fields["original_message_id"],
        author_signature=fields["author_signature"],
        permalink=fields["permalink"],
    )
