"""Every request passes the gate: who is asking (their address), whether they may ask
now (rate limits), whether a state-changing request really comes from Haven's own page
(origin, device cookie and CSRF token, a request id never seen before), and which chat
its session cookie opens.

Each refusal is a short JSON answer with a status of its own and nothing stored.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from adapters.web.limits import Buckets, Connections, Guesses
from adapters.web.options import WebOptions
from adapters.web.records import ChatRecord, ChatRecords
from adapters.web.tokens import Session, Signer

log = logging.getLogger(__name__)

SESSION_COOKIE = "__Host-haven-s"
DEVICE_COOKIE = "__Host-haven-d"
LANG_COOKIE = "__Host-haven-lang"
CSRF_HEADER = "X-Haven-CSRF"
REQUEST_HEADER = "X-Haven-Request"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_REPLAYS_KEPT = 100_000
_CHATS_KEPT = 10_000
_CHAT_FRESH_SECONDS = 5.0  # a lock on another instance is seen within this time


class Refused(Exception):
    """A clean refusal: the status, a short error kind for the page, and extra fields."""

    def __init__(self, status: int, kind: str, **extra: Any) -> None:
        super().__init__(kind)
        self.status = status
        self.kind = kind
        self.extra = extra

    def response(self) -> web.Response:
        response = web.json_response({"error": self.kind, **self.extra}, status=self.status)
        wait = self.extra.get("seconds")
        if self.status == 429 and wait is not None:
            response.headers["Retry-After"] = str(wait)
        return response


def too_many(wait: float) -> Refused:
    return Refused(429, "too_many", seconds=max(1, round(wait)))


class Gate:
    def __init__(
        self,
        options: WebOptions,
        signer: Signer,
        records: ChatRecords,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.signer = signer
        self.records = records
        self.now = now
        self.requests = Buckets(options.requests_per_minute, options.request_burst, now)
        self.new_chats = Buckets(options.new_chats_per_hour / 60, options.new_chats_per_hour, now)
        self.messages = Buckets(options.messages_per_minute, options.messages_per_minute, now)
        self.connections = Connections(options.connections_per_address, options.max_connections)
        self.guesses = Guesses(
            options.free_guesses,
            options.guess_backoff_seconds,
            options.guess_backoff_cap_seconds,
            now,
        )
        self._seen_requests: OrderedDict[str, None] = OrderedDict()
        self._chats: OrderedDict[str, tuple[float, ChatRecord | None]] = OrderedDict()

    # ---- who is asking ------------------------------------------------------------

    def address(self, request: web.Request) -> str:
        """The client's address: the peer, or, when the peer is a trusted reverse proxy,
        the last address in X-Forwarded-For that is not one of the proxies."""
        peer = request.remote or ""
        if peer not in self.options.trusted_proxies:
            return peer
        hops = [hop.strip() for hop in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed(hops):
            if hop and hop not in self.options.trusted_proxies and _is_address(hop):
                return hop
        return peer

    def pace(self, address: str) -> None:
        wait = self.requests.take(address)
        if wait:
            raise too_many(wait)

    # ---- state-changing requests --------------------------------------------------

    def changing(self, request: web.Request) -> tuple[str, str]:
        """Check a POST came from Haven's own page: same origin, a signed device cookie,
        its CSRF token in the header, and a request id not used before. Returns the
        device nonce and the request id."""
        self.same_origin(request, required=False)
        device = self.signer.device_nonce(request.cookies.get(DEVICE_COOKIE, ""))
        if device is None:
            raise Refused(403, "no_device")
        if not self.signer.csrf_matches(device, request.headers.get(CSRF_HEADER, "")):
            raise Refused(403, "csrf")
        request_id = request.headers.get(REQUEST_HEADER, "")
        if not _REQUEST_ID.match(request_id):
            raise Refused(400, "request_id")
        return device, request_id

    def first_time(self, scope: str, request_id: str) -> None:
        """Refuse a request id already used in this scope (a chat or a device): a replay."""
        key = f"{scope}:{request_id}"
        if key in self._seen_requests:
            raise Refused(409, "replayed")
        self._seen_requests[key] = None
        while len(self._seen_requests) > _REPLAYS_KEPT:
            self._seen_requests.popitem(last=False)

    def seen_again(self, scope: str, request_id: str) -> None:
        """Forget a request id whose request failed, so that it may be sent again."""
        self._seen_requests.pop(f"{scope}:{request_id}", None)

    def same_origin(self, request: web.Request, *, required: bool) -> None:
        origin = request.headers.get("Origin")
        if origin is None:
            if required:
                raise Refused(403, "origin")
            return
        if urlsplit(origin).netloc != request.host:
            raise Refused(403, "origin")

    # ---- sessions -----------------------------------------------------------------

    async def session(self, request: web.Request) -> Session:
        """The request's live session, or a refusal: none, forged, idle or locked."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Refused(401, "no_session")
        session = self.signer.read_session(cookie)
        if session is None:
            log.info("web: a forged or damaged session cookie was refused")
            raise Refused(401, "no_session")
        if self.now() - session.seen > self.options.idle_minutes * 60:
            raise Refused(401, "locked")
        chat = await self.chat(session.chat_id)
        if chat is None or chat.epoch != session.epoch:
            raise Refused(401, "locked")
        return session

    def idle_left(self, session: Session) -> float:
        return session.seen + self.options.idle_minutes * 60 - self.now()

    async def chat(self, chat_id: str) -> ChatRecord | None:
        """The chat's record, remembered for a few seconds: most requests need its epoch."""
        now = time.monotonic()
        known = self._chats.get(chat_id)
        if known is not None and now - known[0] < _CHAT_FRESH_SECONDS:
            return known[1]
        found = await self.records.get(chat_id)
        self.remember(chat_id, found)
        return found

    def remember(self, chat_id: str, chat: ChatRecord | None) -> None:
        self._chats[chat_id] = (time.monotonic(), chat)
        self._chats.move_to_end(chat_id)
        while len(self._chats) > _CHATS_KEPT:
            self._chats.popitem(last=False)

    def forget(self, chat_id: str) -> None:
        self._chats.pop(chat_id, None)

    def issue(self, response: web.StreamResponse, chat_id: str, epoch: int, issued: int) -> None:
        now = int(self.now())
        value = self.signer.session(Session(chat_id, epoch, issued, now))
        _set_cookie(response, SESSION_COOKIE, value)

    def renew(self, response: web.StreamResponse, session: Session) -> None:
        self.issue(response, session.chat_id, session.epoch, session.issued)

    @staticmethod
    def end(response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")

    def device(self, request: web.Request, response: web.StreamResponse) -> str:
        """This browser's device nonce; a new signed device cookie when it has none."""
        nonce = self.signer.device_nonce(request.cookies.get(DEVICE_COOKIE, ""))
        if nonce is not None:
            return nonce
        cookie = self.signer.new_device()
        _set_cookie(response, DEVICE_COOKIE, cookie)
        found = self.signer.device_nonce(cookie)
        assert found is not None
        return found


def _set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    # No Max-Age: the browser forgets it when closed; the idle time limits it before.
    response.set_cookie(name, value, path="/", secure=True, httponly=True, samesite="Strict")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
