"""Haven's messages reaching an open page: over a WebSocket, or by long polling where an
in-app browser blocks WebSockets.

The mailbox (adapters/web/records.py) is the truth. A page says which message it showed
last and gets everything after it, so a reconnect — after a network change or a restart
of Haven — loses nothing and repeats nothing. While a page is open, a message this
instance posts reaches it straight from the hub, with the id of the chat's message
before it: when that is the last one the page has, nothing can be missing and the
database is not read; otherwise (a message posted by another instance in between, or
wake-ups dropped while a page was slow) the page is brought up to date from the mailbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from adapters.web.gate import Gate, Refused
from adapters.web.records import ChatRecords

log = logging.getLogger(__name__)

CLOSE_LOCKED = 4001  # the page shows the locked screen rather than reconnecting
_CATCH_UP_SECONDS = 15.0  # a page also rereads its mailbox this often (other instances)
_QUEUE = 256
_LEFT_KEPT = 10_000  # chats whose last page left lately; older ones count as long gone


@dataclass(frozen=True)
class Posted:
    """A message just posted to a chat's mailbox, and the chat's message before it."""

    id: int
    previous: int
    body: str


def client_view(message_id: int, body: str) -> dict[str, Any]:
    """A mailbox message as the page sees it: never the server's file path."""
    stored = json.loads(body)
    view: dict[str, Any] = {
        "id": message_id,
        "text": stored.get("text", ""),
        "buttons": stored.get("buttons", []),
    }
    if "edit" in stored:
        view["edit"] = stored["edit"]
    file = stored.get("file")
    if file:
        view["file"] = {"name": file["name"]}
    return view


News = Posted | None  # None: the chat was locked
Waiting = asyncio.Queue[News]


class Hub:
    """The open pages of each chat, waiting for what is posted to their mailbox, and when
    the last page of a chat left (a page may be between two long polls)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._waiting: dict[str, set[Waiting]] = defaultdict(set)
        self._left: OrderedDict[str, float] = OrderedDict()
        self._clock = clock

    def watched(self, chat_id: str, grace_seconds: float) -> bool:
        """Whether a page of the chat is open here, or left less than `grace_seconds` ago."""
        if self._waiting.get(chat_id):
            return True
        left = self._left.get(chat_id)
        return left is not None and self._clock() - left < grace_seconds

    def join(self, chat_id: str) -> Waiting:
        queue: Waiting = asyncio.Queue(_QUEUE)
        self._waiting[chat_id].add(queue)
        return queue

    def leave(self, chat_id: str, queue: Waiting) -> None:
        waiting = self._waiting.get(chat_id)
        if waiting is None:
            return
        waiting.discard(queue)
        if not waiting:
            del self._waiting[chat_id]
            self._left[chat_id] = self._clock()
            self._left.move_to_end(chat_id)
            while len(self._left) > _LEFT_KEPT:
                self._left.popitem(last=False)

    def posted(self, chat_id: str, posted: Posted) -> None:
        self._tell(chat_id, posted)

    def locked(self, chat_id: str) -> None:
        self._tell(chat_id, None)

    def _tell(self, chat_id: str, news: News) -> None:
        for queue in self._waiting.get(chat_id, ()):
            with contextlib.suppress(asyncio.QueueFull):  # a slow page catches up later
                queue.put_nowait(news)


class Live:
    def __init__(self, gate: Gate, records: ChatRecords, hub: Hub) -> None:
        self.gate = gate
        self.records = records
        self.hub = hub
        self.options = gate.options

    async def _read(self, chat_id: str, after: int) -> list[dict[str, Any]]:
        found = await self.records.since(chat_id, after, self.options.history)
        return [client_view(message_id, body) for message_id, body in found]

    async def _news(self, chat_id: str, after: int, posted: Posted) -> list[dict[str, Any]]:
        """What a page that showed up to `after` gets for a message just posted."""
        if posted.id <= after:
            return []  # it had it already, from the mailbox
        if posted.previous == after:
            return [client_view(posted.id, posted.body)]
        return await self._read(chat_id, after)

    async def socket(self, request: web.Request) -> web.StreamResponse:
        gate = self.gate
        gate.same_origin(request, required=True)  # a WebSocket is not bound by CORS
        session = await gate.session(request)
        after = _after(request)
        address = gate.address(request)
        if not gate.connections.open(address):
            raise Refused(429, "too_many_connections")
        queue = self.hub.join(session.chat_id)
        try:
            ws = web.WebSocketResponse(heartbeat=20, max_msg_size=1024)
            await ws.prepare(request)
            # Whichever ends first ends the other: the page leaving, or the feed closing
            # the socket (locked, idle, or Haven stopping).
            reader = asyncio.ensure_future(_drain_client(ws))
            feed = asyncio.ensure_future(
                self._feed(ws, queue, session.chat_id, after, gate.idle_left(session))
            )
            try:
                await asyncio.wait((reader, feed), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reader, feed):
                    task.cancel()
                for ended in await asyncio.gather(reader, feed, return_exceptions=True):
                    if isinstance(ended, Exception):
                        log.error("web: a live connection failed: %s", type(ended).__name__)
            return ws
        finally:
            self.hub.leave(session.chat_id, queue)
            gate.connections.close(address)

    async def _feed(
        self,
        ws: web.WebSocketResponse,
        queue: Waiting,
        chat_id: str,
        after: int,
        idle_left: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        idle_until = loop.time() + idle_left
        messages = await self._read(chat_id, after)
        while not ws.closed:
            if messages:
                await ws.send_json({"messages": messages})
                after = messages[-1]["id"]
            wait = min(_CATCH_UP_SECONDS, idle_until - loop.time())
            if wait <= 0:
                await ws.close(code=CLOSE_LOCKED, message=b"idle")
                return
            try:
                async with asyncio.timeout(wait):
                    news = await queue.get()
            except TimeoutError:
                messages = await self._read(chat_id, after)
                continue
            if news is None:
                await ws.close(code=CLOSE_LOCKED, message=b"locked")
                return
            messages = await self._news(chat_id, after, news)

    async def poll(self, request: web.Request) -> web.Response:
        """Long polling: answers at once when there is news, else within poll_seconds."""
        gate = self.gate
        session = await gate.session(request)
        after = _after(request)
        address = gate.address(request)
        if not gate.connections.open(address):
            raise Refused(429, "too_many_connections")
        queue = self.hub.join(session.chat_id)
        try:
            messages = await self._read(session.chat_id, after)
            wait = min(self.options.poll_seconds, gate.idle_left(session))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wait)):
                    while not messages:
                        news = await queue.get()
                        if news is None:
                            raise Refused(401, "locked")
                        messages = await self._news(session.chat_id, after, news)
            return web.json_response({"messages": messages})
        finally:
            self.hub.leave(session.chat_id, queue)
            gate.connections.close(address)


async def _drain_client(ws: web.WebSocketResponse) -> None:
    """The page sends nothing but pings and the close; anything else is ignored."""
    async for message in ws:
        if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


def _after(request: web.Request) -> int:
    text = request.query.get("after", "0")
    if not text.isdigit() or len(text) > 18:
        raise Refused(400, "after")
    return int(text)
