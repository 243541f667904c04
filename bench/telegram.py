"""Benchmark: Haven's Telegram adapter and core against a bare python-telegram-bot echo bot.

Both run the real python-telegram-bot Application, long polling the same fake Bot API
(tests/fakes) on 127.0.0.1, with rate limits off, in the same run. Simulated users each
send a mix of text, button presses (from the latest keyboard they were sent) and
forwarded messages, one at a time: after each, a user waits for the first reply and then
for its chat to fall quiet. Reported per bot: updates/s and the p50/p99 time from the
moment the fake hands the update to the bot (getUpdates) to the first reply reaching the
fake. Haven's number includes its whole core: case state, evidence, outbox, SQLite.
The echo bot is python-telegram-bot as it comes (httpx underneath); Haven's adapter sends
through aiohttp (adapters/telegram_http.py), as `haven run` does.
Ends with one JSON line whose "ratio" is Haven's throughput over the echo bot's.

    .venv/bin/python bench/telegram.py [--users 50] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The repository replaces this folder at the head of sys.path: bench/telegram.py would
# otherwise shadow the `telegram` package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler

from adapters.telegram import TelegramAdapter, TelegramOptions
from bot.clock import SystemClock
from bot.config import load_config
from bot.runtime import Haven, freeze_startup_heap
from tests.chat_rig import serving
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import Call, FakeBotAPI

QUIET_SECONDS = 0.02  # a chat with no new message for this long has had its whole answer
REPLY_METHODS = frozenset({"sendMessage", "sendDocument", "editMessageText"})
CONFIG = """
default_locale = "en"

[limits]
flood_messages = 100000

[adapters.telegram]
rate_global_per_second = 100000
rate_per_chat_per_second = 100000
rate_per_group_per_minute = 100000
"""


@dataclass
class Chats:
    """What the fake received, per chat, and the users waiting for a first reply."""

    fake: FakeBotAPI
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    keyboards: dict[str, list[str]] = field(default_factory=dict)
    waiting: dict[str, tuple[int, asyncio.Future[float]]] = field(default_factory=dict)

    def seen(self, call: Call) -> None:
        if call.method not in REPLY_METHODS:
            return
        chat = str(call.params.get("chat_id"))
        self.counts[chat] += 1
        markup = call.params.get("reply_markup")
        if markup:
            self.keyboards[chat] = [
                b["callback_data"] for r in markup["inline_keyboard"] for b in r
            ]
        pending = self.waiting.get(chat)
        served = self.fake.served_at.get(pending[0]) if pending else None
        if pending and served is not None and call.at >= served and not pending[1].done():
            pending[1].set_result(call.at - served)

    async def exchange(self, chat: str, update: dict[str, Any]) -> float:
        """Send one update; return the time to its first reply once the chat is quiet."""
        reply: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[chat] = (self.fake.push(update), reply)
        latency = await asyncio.wait_for(reply, 30)
        del self.waiting[chat]
        while True:
            before = self.counts[chat]
            await asyncio.sleep(QUIET_SECONDS)
            if self.counts[chat] == before:
                return latency


async def one_user(chats: Chats, number: int, rounds: int, latencies: list[float]) -> int:
    sender = tu.user(10_000 + number, f"User{number}", language_code="en")
    chat = tu.private_chat(sender)
    key = str(sender["id"])
    updates = tu.Updates()
    origin = tu.origin_user(tu.user(99, "Leaker"), int(time.time()) - 3600)
    latencies.append(await chats.exchange(key, updates.message(chat, sender, "/start")))
    for turn in range(rounds):
        kind = turn % 3
        if kind == 0:
            update = updates.message(chat, sender, f"they posted it again, {turn}")
        elif kind == 1:
            data = (chats.keyboards.get(key) or ["0:stale"])[0]
            update = updates.press(chat, sender, data)
        else:
            update = updates.forward(chat, sender, origin, text=f"forwarded chat log {turn}")
        latencies.append(await chats.exchange(key, update))
    return rounds + 1


async def drive(fake: FakeBotAPI, users: int, rounds: int) -> dict[str, float]:
    chats = Chats(fake)
    fake.on_call = chats.seen
    latencies: list[float] = []
    started = time.perf_counter()
    counts = await asyncio.gather(*(one_user(chats, n, rounds, latencies) for n in range(users)))
    elapsed = time.perf_counter() - started
    fake.on_call = None
    total = sum(counts)
    return {
        "updates": total,
        "seconds": round(elapsed, 3),
        "updates_per_s": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 2),
    }


@contextlib.asynccontextmanager
async def haven_bot(fake: FakeBotAPI, data_dir: Path) -> AsyncIterator[None]:
    config_path = data_dir.parent / "haven.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path, data_dir_override=data_dir)
    options = TelegramOptions(
        token=fake.token,
        api_base_url=fake.api_base_url,
        file_base_url=fake.file_base_url,
        rate_global_per_second=None,
        rate_per_group_per_minute=None,
    )
    adapter = TelegramAdapter(options)
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    freeze_startup_heap()  # as `haven run` does
    async with serving(haven, adapter, haven.dispatcher.handle):
        yield


@contextlib.asynccontextmanager
async def echo_bot(fake: FakeBotAPI) -> AsyncIterator[None]:
    """The baseline: answers every message and button press with one message."""
    app = ApplicationBuilder().token(fake.token).base_url(fake.api_base_url).build()

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()
        chat = update.effective_chat
        if chat is not None:
            message = update.effective_message
            await chat.send_message((message.text if message else None) or "pressed")

    app.add_handler(TypeHandler(Update, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        try:
            yield
        finally:
            await app.updater.stop()
            await app.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # escalation warnings would drown the figures
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        fake = FakeBotAPI()
        await fake.start()
        try:
            async with echo_bot(fake):
                echo = await drive(fake, args.users, args.rounds)
            async with haven_bot(fake, Path(scratch) / "data"):
                haven = await drive(fake, args.users, args.rounds)
        finally:
            await fake.close()
    ratio = round(haven["updates_per_s"] / echo["updates_per_s"], 3)
    print(f"users x rounds         {args.users} x {args.rounds + 1} (text, button, forward)")
    for name, result in (("haven", haven), ("echo (bare PTB)", echo)):
        print(
            f"{name:<22} {result['updates_per_s']} updates/s, "
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
        )
    print(f"ratio                  {ratio} (target >= 0.5)")
    print(json.dumps({"bench": "telegram", "haven": haven, "echo": echo, "ratio": ratio}))


if __name__ == "__main__":
    asyncio.run(main())
