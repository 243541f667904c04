"""What a person does on the page, turned into ordinary `Inbound` events for the core:
typed text (or a /command), a pressed button, a message someone else sent (the forward
form, or a screenshot of it), and files.

A request is answered only once the core has handled its event (the state saved and the
replies queued), so a page told "sent" can count on it; a page that heard nothing sends
the same request id again, which the core recognises (its message log) and this gate
refuses as a replay while it remembers it. Events of one chat are handled one at a time,
in the order they came.

Files are streamed from the request, counted as they come and refused the moment they
pass the limit (or before reading, when Content-Length says so); what arrives is held in
memory, a bounded number of uploads at once, and handed to the core as an Attachment
whose fetch returns it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from adapters.web.gate import Gate, Refused, too_many
from adapters.web.tokens import Session
from bot.adapter import InboundHandler
from bot.events import (
    Attachment,
    ChatKind,
    ChatRef,
    FetchBytes,
    ForwardOrigin,
    Identity,
    Inbound,
    InboundKind,
    OriginKind,
)

log = logging.getLogger(__name__)

PLATFORM = "web"
_CHUNK = 64 * 1024
_FIELD_CHARS = 200
_BUTTON_CHARS = 128
_HEADER_CHARS = 1024


class Turns:
    """The core's handler, called for one chat's events one at a time."""

    def __init__(self) -> None:
        self.handler: InboundHandler | None = None
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: dict[str, int] = defaultdict(int)
        self._running: set[asyncio.Task[None]] = set()

    async def take(self, inbound: Inbound) -> None:
        """Hand `inbound` to the core and wait until it is handled. The handling runs in
        a task of its own, so a page that goes away mid-request cannot cut it short."""
        chat = inbound.chat.chat_id
        self._waiting[chat] += 1
        try:
            async with self._locks[chat]:
                task = asyncio.ensure_future(self._handle(inbound))
                self._running.add(task)
                task.add_done_callback(self._running.discard)
                await asyncio.shield(task)
        finally:
            self._waiting[chat] -= 1
            if not self._waiting[chat]:
                del self._waiting[chat]
                self._locks.pop(chat, None)

    async def _handle(self, inbound: Inbound) -> None:
        if self.handler is None:
            raise Refused(503, "not_ready")
        try:
            await self.handler(inbound)
        except Exception as exc:
            log.exception("web: the core could not handle a %s", inbound.kind)
            raise Refused(500, "not_handled") from exc

    async def drain(self) -> None:
        await asyncio.gather(*self._running, return_exceptions=True)


def event(kind: InboundKind, chat_id: str, request_id: str, locale: str, **fields: Any) -> Inbound:
    return Inbound(
        kind=kind,
        identity=Identity(PLATFORM, chat_id),
        chat=ChatRef(PLATFORM, chat_id, ChatKind.PRIVATE),
        received_at=datetime.now(UTC),
        message_id=request_id,
        locale_hint=locale,
        **fields,
    )


class Intake:
    def __init__(self, gate: Gate, turns: Turns) -> None:
        self.gate = gate
        self.turns = turns
        self.options = gate.options
        self._uploads = asyncio.Semaphore(self.options.max_uploads)

    async def _begin(self, request: web.Request) -> tuple[Session, str]:
        """A state-changing request of a chat: checked, paced per chat, not a replay."""
        gate = self.gate
        _, request_id = gate.changing(request)
        session = await gate.session(request)
        wait = gate.messages.take(session.chat_id)
        if wait:
            raise too_many(wait)
        gate.first_time(session.chat_id, request_id)
        return session, request_id

    async def _done(self, request: web.Request, session: Session, inbound: Inbound) -> web.Response:
        try:
            await self.turns.take(inbound)
        except Refused:
            # Not handled: the page may send the same request again.
            self.gate.seen_again(session.chat_id, inbound.message_id)
            raise
        response = web.json_response({"ok": True})
        self.gate.renew(response, session)
        return response

    async def message(self, request: web.Request) -> web.Response:
        session, request_id = await self._begin(request)
        body = await read_json(request, self.options.max_text_chars * 8 + 1024)
        text = _text(body, "text", self.options.max_text_chars * 2)
        locale = _text(body, "locale", 8)
        if text.startswith("/") and len(text) > 1:
            command, _, args = text[1:].partition(" ")
            inbound = event(
                InboundKind.COMMAND,
                session.chat_id,
                request_id,
                locale,
                command=command,
                args=args.strip(),
            )
        else:
            inbound = event(InboundKind.TEXT, session.chat_id, request_id, locale, text=text)
        return await self._done(request, session, inbound)

    async def button(self, request: web.Request) -> web.Response:
        session, request_id = await self._begin(request)
        body = await read_json(request, 1024)
        data = _text(body, "data", _BUTTON_CHARS)
        if not data:
            raise Refused(400, "button")
        inbound = event(
            InboundKind.BUTTON,
            session.chat_id,
            request_id,
            _text(body, "locale", 8),
            button_data=data,
        )
        return await self._done(request, session, inbound)

    async def forward(self, request: web.Request) -> web.Response:
        """The forward form: who sent it, when, and what it said."""
        session, request_id = await self._begin(request)
        body = await read_json(request, self.options.max_text_chars * 8 + 2048)
        origin = _origin(_text(body, "who", _FIELD_CHARS), _text(body, "when", 40))
        inbound = event(
            InboundKind.FORWARD,
            session.chat_id,
            request_id,
            _text(body, "locale", 8),
            text=_text(body, "text", self.options.max_text_chars * 2),
            forward_origin=origin,
        )
        return await self._done(request, session, inbound)

    async def upload(self, request: web.Request) -> web.Response:
        """A file as the raw request body; a screenshot of someone's message when the
        forward headers come with it."""
        limit = self.options.max_upload_bytes
        declared = request.content_length
        if declared is not None and declared > limit:
            # Before any of it is read, and before anything else is looked at.
            raise Refused(413, "too_big", limit=limit)
        session, request_id = await self._begin(request)
        name = _header(request, "X-Haven-Name") or "file"
        mime = request.headers.get("Content-Type", "application/octet-stream")[:100]
        if self._uploads.locked():
            raise too_many(1)
        async with self._uploads:
            data = await _read_counted(request, limit)
        if not data:
            raise Refused(400, "empty")
        attachment = Attachment(
            kind=_file_kind(mime),
            fetch=_held(data),
            file_name=name[:_FIELD_CHARS],
            mime_type=mime,
            size=len(data),
        )
        who, when = _header(request, "X-Haven-Who"), _header(request, "X-Haven-When")
        forwarded = bool(who or when) or request.query.get("forward") == "1"
        inbound = event(
            InboundKind.FORWARD if forwarded else InboundKind.ATTACHMENT,
            session.chat_id,
            request_id,
            _header(request, "X-Haven-Locale")[:8],
            attachments=(attachment,),
            forward_origin=_origin(who[:_FIELD_CHARS], when[:40]) if forwarded else None,
        )
        return await self._done(request, session, inbound)


async def _read_counted(request: web.Request, limit: int) -> bytes:
    data = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        data += chunk
        if len(data) > limit:
            log.info("web: an upload passed the limit of %d bytes and was refused", limit)
            raise Refused(413, "too_big", limit=limit)
    return bytes(data)


def _held(data: bytes) -> FetchBytes:
    async def fetch() -> bytes:
        return data

    return fetch


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_long")
    raw = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        raw += chunk
        if len(raw) > limit:
            raise Refused(413, "too_long")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused(400, "malformed") from None
    if not isinstance(body, dict):
        raise Refused(400, "malformed")
    return body


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise Refused(400, "malformed")
    if len(value) > limit:
        raise Refused(413, "too_long")
    return value


def _header(request: web.Request, name: str) -> str:
    """A header the page URL-encodes (names and times may be in any script)."""
    raw = request.headers.get(name, "")[:_HEADER_CHARS]
    return unquote(raw, errors="replace")


def _origin(who: str, when: str) -> ForwardOrigin:
    """The forward form knows a name, not an account: a hidden user, as platforms call it."""
    return ForwardOrigin(
        kind=OriginKind.HIDDEN_USER, sender_name=who.strip(), original_date=_moment(when)
    )


def _moment(text: str) -> datetime | None:
    """The page sends an ISO time in UTC; anything else is no time rather than a refusal."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _file_kind(mime: str) -> str:
    family = mime.partition("/")[0]
    return {"image": "photo", "video": "video", "audio": "audio"}.get(family, "document")
