"""Benchmark: the web chat against the same journey on the in-memory test backend.

Web: Haven serves the chat on 127.0.0.1; each simulated person opens the page (its
device cookie and CSRF token), starts a conversation, holds a WebSocket open and sends
messages over HTTP one at a time — typed text, a press of the newest button they were
shown, a message someone else sent (the forward form) — waiting after each for Haven's
first reply on the WebSocket and then for the chat to fall quiet. Everything is real:
the gate (cookies, CSRF, rate limits set out of the way), the core, SQLite, the outbox,
the mailbox and the socket.

Baseline: the same people and messages handed straight to the core behind
adapters/memory.py, the reply being the first message the outbox hands that adapter.

Reported per run: messages/s and the p50/p99 time from sending a message to Haven's
first reply. Ends with one JSON line whose "ratio" is the web's throughput over the
baseline's.

    .venv/bin/python bench/web.py [--sessions 200] [--messages 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from adapters.memory import MemoryAdapter, victim_event
from adapters.web import WebAdapter
from bot.clock import SystemClock
from bot.config import Config, load_config
from bot.delivery.web_records import WebRecords
from bot.events import ForwardOrigin, InboundKind, OriginKind, Outbound
from bot.runtime import Haven, freeze_startup_heap, web_options
from tests.chat_rig import serving
from tests.web_rig import Page

QUIET_SECONDS = 0.02  # a chat with no new message for this long has had its whole answer
LOTS = 10**9
CONFIG = """
default_locale = "en"

[limits]
flood_messages = 100000

[adapters]
enabled = ["web"]
"""


class Chat:
    """What one person has been told so far, and a way to wait for more."""

    def __init__(self) -> None:
        self.heard_at: list[float] = []  # when each message arrived
        self.buttons: list[str] = []
        self.changed = asyncio.Event()

    @property
    def count(self) -> int:
        return len(self.heard_at)

    def heard(self, buttons: list[str]) -> None:
        self.heard_at.append(time.perf_counter())
        if buttons:
            self.buttons = buttons
        self.changed.set()

    async def answer(self, before: int) -> float:
        """Wait for the first reply after `before` messages, then until the chat falls
        quiet; return when that first reply arrived."""
        while self.count <= before:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 30)
        while True:
            seen = self.count
            await asyncio.sleep(QUIET_SECONDS)
            if self.count == seen:
                return self.heard_at[before]


def turn_of(turn: int, chat: Chat) -> tuple[str, dict[str, Any]]:
    """The n-th thing a person does: type, press the newest button, or forward."""
    kind = turn % 3
    if kind == 0:
        return "message", {"text": f"they posted it again, {turn}"}
    if kind == 1:
        return "button", {"data": (chat.buttons or ["0:stale"])[0]}
    return "forward", {"who": "Leaker", "when": "", "text": f"a message they sent, {turn}"}


Send = Callable[[str, dict[str, Any]], Awaitable[None]]


async def journey(send: Send, chat: Chat, messages: int, latencies: list[float]) -> int:
    for turn in range(messages):
        path, body = turn_of(turn, chat)
        before = chat.count
        started = time.perf_counter()
        await send(path, body)
        latencies.append(await chat.answer(before) - started)
    return messages


async def web_person(
    http: aiohttp.ClientSession, url: str, messages: int, latencies: list[float]
) -> int:
    page = Page(http, url)
    await page.open()
    status, _ = await page.post("/api/start", {"locale": "en"})
    assert status == 200, status
    chat = Chat()
    headers = {**page.headers(), "Origin": url}
    async with http.ws_connect(url + "/api/live?after=0", headers=headers) as ws:

        async def listen() -> None:
            async for frame in ws:
                for message in json.loads(frame.data)["messages"]:
                    chat.heard([b["data"] for row in message["buttons"] for b in row])

        listener = asyncio.ensure_future(listen())
        await chat.answer(0)  # the language question of /start

        async def send(path: str, body: dict[str, Any]) -> None:
            status, answer = await page.post(f"/api/{path}", body)
            assert status == 200, (status, answer)

        try:
            return await journey(send, chat, messages, latencies)
        finally:
            listener.cancel()


async def run_web(scratch: Path, sessions: int, messages: int) -> dict[str, float]:
    config = configured(scratch / "web")
    records = WebRecords()
    options = replace(
        web_options(config),
        listen="127.0.0.1:0",
        requests_per_minute=LOTS,
        request_burst=LOTS,
        new_chats_per_hour=LOTS,
        messages_per_minute=LOTS,
        connections_per_address=LOTS,
        max_connections=LOTS,
    )
    adapter = WebAdapter(options, records)
    haven = await Haven.open(config, {"web": adapter}, SystemClock())
    records.open(haven.db, haven.clock)
    freeze_startup_heap()
    async with serving(haven, adapter, haven.dispatcher.handle):
        url = f"http://127.0.0.1:{adapter.port}"
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            return await timed(lambda lat: web_person(http, url, messages, lat), sessions)


class Watching(MemoryAdapter):
    """The memory backend, telling each person's Chat what the outbox hands it."""

    def __init__(self) -> None:
        super().__init__()
        self.chats: dict[str, Chat] = defaultdict(Chat)

    async def send(self, message: Outbound) -> str:
        sent = await super().send(message)
        chat = self.chats[message.chat.chat_id]
        chat.heard([b.data for row in message.buttons for b in row])
        return sent


async def memory_person(
    haven: Haven, adapter: Watching, number: int, messages: int, latencies: list[float]
) -> int:
    user = f"person{number}"
    chat = adapter.chats[user]
    platform = adapter.platform
    await haven.dispatcher.handle(
        victim_event(platform, user, InboundKind.COMMAND, f"s{number}", command="start")
    )
    await chat.answer(0)
    sequence = iter(range(1, messages + 1))

    async def send(path: str, body: dict[str, Any]) -> None:
        message_id = f"m{number}-{next(sequence)}"
        if path == "message":
            fields: dict[str, Any] = {"text": body["text"]}
            kind = InboundKind.TEXT
        elif path == "button":
            fields, kind = {"button_data": body["data"]}, InboundKind.BUTTON
        else:
            origin = ForwardOrigin(OriginKind.HIDDEN_USER, sender_name=body["who"])
            fields, kind = {"text": body["text"], "forward_origin": origin}, InboundKind.FORWARD
        await haven.dispatcher.handle(victim_event(platform, user, kind, message_id, **fields))

    return await journey(send, chat, messages, latencies)


async def run_memory(scratch: Path, sessions: int, messages: int) -> dict[str, float]:
    config = configured(scratch / "memory")
    adapter = Watching()
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    numbers = iter(range(sessions))
    async with serving(haven, adapter, haven.dispatcher.handle):
        return await timed(
            lambda lat: memory_person(haven, adapter, next(numbers), messages, lat), sessions
        )


async def timed(person: Callable[[list[float]], Awaitable[int]], sessions: int) -> dict[str, float]:
    latencies: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(*(person(latencies) for _ in range(sessions)))
    elapsed = time.perf_counter() - started
    total = sum(counts)
    return {
        "messages": total,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(_p99(latencies) * 1000, 2),
    }


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100)[98]


def configured(data_dir: Path) -> Config:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    path = data_dir.parent / f"{data_dir.name}.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, data_dir_override=data_dir)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        memory = await run_memory(Path(scratch), args.sessions, args.messages)
        web = await run_web(Path(scratch), args.sessions, args.messages)
    print(f"{args.sessions} sessions × {args.messages} messages each")
    for name, figures in (("memory backend", memory), ("web chat", web)):
        print(
            f"  {name:15} {figures['messages_per_s']:8.1f} messages/s   "
            f"p50 {figures['p50_ms']:7.2f} ms   p99 {figures['p99_ms']:8.2f} ms"
        )
    ratio = round(web["messages_per_s"] / memory["messages_per_s"], 3)
    print(
        json.dumps(
            {
                "bench": "web",
                "sessions": args.sessions,
                "web": web,
                "memory": memory,
                "ratio": ratio,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
