"""Haven's messages reaching an open page: over a WebSocket, or by long polling where an
in-app browser blocks WebSockets.

The mailbox (adapters/web/records.py) is the truth; the hub only wakes the pages of a
chat when something was posted to it. A page says which message it showed last and
gets everything after it, so a reconnect — after a network change or a restart of
Haven — loses nothing and repeats nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web

from adapters.web.gate import Gate, Refused
from adapters.web.records import ChatRecords

log = logging.getLogger(__name__)

CLOSE_LOCKED = 4001  # the page shows the locked screen rather than reconnecting
_CATCH_UP_SECONDS = 15.0  # a page also rereads its mailbox this often (other instances)
_QUEUE = 256


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


class Hub:
    """The open pages of each chat, waiting to hear that their mailbox grew."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Queue[bool]]] = defaultdict(set)

    def join(self, chat_id: str) -> asyncio.Queue[bool]:
        queue: asyncio.Queue[bool] = asyncio.Queue(_QUEUE)
        self._waiting[chat_id].add(queue)
        return queue

    def leave(self, chat_id: str, queue: asyncio.Queue[bool]) -> None:
        waiting = self._waiting.get(chat_id)
        if waiting is None:
            return
        waiting.discard(queue)
        if not waiting:
            del self._waiting[chat_id]

    def posted(self, chat_id: str) -> None:
        self._tell(chat_id, True)

    def locked(self, chat_id: str) -> None:
        self._tell(chat_id, False)

    def _tell(self, chat_id: str, news: bool) -> None:
        for queue in self._waiting.get(chat_id, ()):
            with contextlib.suppress(asyncio.QueueFull):  # it has a wake-up waiting already
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
                await asyncio.gather(reader, feed, return_exceptions=True)
            return ws
        finally:
            self.hub.leave(session.chat_id, queue)
            gate.connections.close(address)

    async def _feed(
        self,
        ws: web.WebSocketResponse,
        queue: asyncio.Queue[bool],
        chat_id: str,
        after: int,
        idle_left: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        idle_until = loop.time() + idle_left
        while not ws.closed:
            messages = await self._read(chat_id, after)
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
                continue
            if not news:
                await ws.close(code=CLOSE_LOCKED, message=b"locked")
                return

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
            if not messages:
                wait = min(self.options.poll_seconds, gate.idle_left(session))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, wait)):
                        if not await queue.get():
                            raise Refused(401, "locked")
                messages = await self._read(session.chat_id, after)
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
