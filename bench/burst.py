"""Benchmark: one person forwards 100 messages at once, through the Telegram fake.

Forwarding a whole chat is what a victim does (Telegram forwards up to 100 messages in
one go). Haven runs with its real Telegram adapter, polling the fake Bot API (tests/fakes)
on 127.0.0.1, with the default evidence budget ([limits] evidence_*) and its intake
journal, as `haven run` does. Two runs, each with a fresh data directory:

- burst: all forwards handed to the fake at once;
- spread: the same number of forwards handed over evenly across `--spread` seconds
  (a minute by default; the test suite shortens it).

Reported per run: items kept (every forward's item number came back in a receipt, and
the database holds that many items: it must be all of them), the time from the first
forward to the last receipt, and the median time from a forward to its receipt (one
person's items are numbered in the order they arrive, so forward k is item #k). "ratio" is the
burst's time to its last receipt over the spread's: well below 1 means a burst is kept
far sooner than the same forwards sent slowly, not throttled to a crawl.

    .venv/bin/python bench/burst.py [--forwards 100] [--spread 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

# The repository replaces this folder at the head of sys.path: bench/telegram.py would
# otherwise shadow the `telegram` package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.telegram import TelegramAdapter, TelegramOptions
from bot.clock import SystemClock
from bot.config import load_config
from bot.runtime import Haven, freeze_startup_heap
from storage import evidence_items
from tests.chat_rig import serving
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import Call, FakeBotAPI

# A receipt names its items: "Kept safely as evidence #7: …", or one "#7 · …" per line
# under a batch's header.
RECEIPTED = re.compile(r"(?:evidence #|^#)(\d+)(?::| ·)", re.M)
RECEIPTS_SECONDS = 300.0
CONFIG = """
default_locale = "en"

[adapters.telegram]
rate_global_per_second = 100000
rate_per_chat_per_second = 100000
rate_per_group_per_minute = 100000
"""


@dataclass
class Receipts:
    """When each awaited item number first came back in a receipt from Haven."""

    awaited: set[int]
    at: dict[int, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def seen(self, call: Call) -> None:
        if call.method != "sendMessage" or call.status != 200:
            return
        text = str(call.params.get("text", ""))
        if not text.startswith("✅"):
            return
        for number in RECEIPTED.findall(text):
            if int(number) in self.awaited:
                self.at.setdefault(int(number), time.monotonic())
        if len(self.at) == len(self.awaited):
            self.done.set()


@contextlib.asynccontextmanager
async def haven_bot(fake: FakeBotAPI, data_dir: Path) -> AsyncIterator[Haven]:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    config_path = data_dir.parent / "haven.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path, data_dir_override=data_dir)
    adapter = TelegramAdapter(
        TelegramOptions(
            token=fake.token,
            api_base_url=fake.api_base_url,
            file_base_url=fake.file_base_url,
            rate_global_per_second=None,
            rate_per_group_per_minute=None,
            poll_timeout_seconds=1,
        )
    )
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    freeze_startup_heap()  # as `haven run` does
    async with serving(haven, adapter, haven.dispatcher.handle):
        yield haven


async def one_run(forwards: int, spread: float, root: Path) -> dict[str, float]:
    fake = FakeBotAPI()
    await fake.start()
    victim = tu.user(7001, "Mei", language_code="en")
    leaker = tu.user(6666, "Leaker")
    updates = tu.Updates()
    texts = [f"message {n} of the leaked chat: {n * 7919:x}" for n in range(forwards)]
    receipts = Receipts(set(range(1, forwards + 1)))
    fake.on_call = receipts.seen
    sent_at: dict[int, float] = {}
    try:
        async with haven_bot(fake, root / "data") as haven:
            began = time.monotonic()
            for number, text in enumerate(texts):
                if spread:
                    await asyncio.sleep(
                        max(0.0, began + spread * number / forwards - time.monotonic())
                    )
                origin = tu.origin_user(leaker, 1_700_000_000 + number)
                sent_at[number + 1] = time.monotonic()
                fake.push(updates.forward(tu.private_chat(victim), victim, origin, text))
            async with asyncio.timeout(RECEIPTS_SECONDS):
                await receipts.done.wait()
            last = max(receipts.at.values())
            async with haven.db.transaction() as conn:
                kept = len(await evidence_items.for_case(conn, 1))
    finally:
        await fake.close()
    latencies = [receipts.at[item] - sent_at[item] for item in receipts.at]
    return {
        "kept": min(kept, len(receipts.at)),
        "to_last_receipt_s": round(last - began, 3),
        "median_latency_s": round(statistics.median(latencies), 3),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forwards", type=int, default=100)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds (default: a minute)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as scratch:
        burst = await one_run(args.forwards, 0.0, Path(scratch) / "burst")
        spread = await one_run(args.forwards, args.spread, Path(scratch) / "spread")
    ratio = round(burst["to_last_receipt_s"] / spread["to_last_receipt_s"], 3)
    n = args.forwards
    print(f"forwards               {n} from one person (burst: at once; spread: {args.spread} s)")
    for name, run in (("burst", burst), ("spread", spread)):
        print(
            f"{name:<22} kept {run['kept']}/{n}, last receipt after "
            f"{run['to_last_receipt_s']:.2f} s, median {run['median_latency_s']:.2f} s per item"
        )
    print(f"ratio                  {ratio} (burst over spread, time to the last receipt)")
    print(
        json.dumps(
            {"bench": "burst", "forwards": n, "burst": burst, "spread": spread, "ratio": ratio}
        )
    )
    if burst["kept"] != n or spread["kept"] != n:
        sys.exit("haven: evidence was lost")


if __name__ == "__main__":
    asyncio.run(main())
