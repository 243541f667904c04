"""Benchmark: victims and staff talking through Haven, over the Telegram fake.

Haven runs as `haven run` would — the real python-telegram-bot adapter long polling the
fake Bot API (tests/fakes) on 127.0.0.1, the whole core, SQLite — with the relay in the
staff members' private chats. Each of `--conversations` victims opens a case and a staff
member of their own takes it (`/reply N …` in their private chat); then each conversation
goes back and forth `--messages` times: the victim writes, waits for the words to reach the
staff member's chat, the staff member answers, waits for it to reach the victim. At the
same time `--plain` victims with no staff member write to the bot and get its ordinary
answer. Reported: p50/p99 from the moment the fake hands an update to Haven (getUpdates) to
the first message reaching the other side, each way, and the plain answer's; the JSON
line's "ratio" is the relay's p50 (both ways) over the plain answer's p50 in the same run.

    .venv/bin/python bench/handoff.py [--conversations 200] [--messages 10] [--plain 50]
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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The repository replaces this folder at the head of sys.path: bench/telegram.py would
# otherwise shadow the `telegram` package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.telegram import TelegramAdapter, TelegramOptions
from bot.clock import SystemClock
from bot.config import load_config
from bot.runtime import Haven, freeze_startup_heap
from storage import cases
from tests.chat_rig import serving
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import Call, FakeBotAPI

STAFF_GROUP = -100500
VICTIMS, STAFF, PLAIN = 20_000, 30_000, 40_000  # Telegram user ids from here on
CONFIG = f"""
default_locale = "en"

[limits]
flood_messages = 100000

[adapters.telegram]
staff_chat_ids = [{STAFF_GROUP}]
rate_global_per_second = 100000
rate_per_chat_per_second = 100000
rate_per_group_per_minute = 100000

[[escalation.levels]]
channels = ["telegram:{STAFF_GROUP}"]

[handoff]
relay = "dm"
answer_minutes = 600
"""
STAFF_ENTRY = """
[[staff]]
platform = "telegram"
user_id = "{user_id}"
role = "operator"
display_name = "Li {number}"
"""


@dataclass
class Arrivals:
    """Waits for the first message the fake receives in a chat after an update was served."""

    fake: FakeBotAPI
    waiting: dict[str, tuple[int, asyncio.Future[float]]] = field(default_factory=dict)

    def seen(self, call: Call) -> None:
        if call.method != "sendMessage":
            return
        pending = self.waiting.get(str(call.params.get("chat_id")))
        served = self.fake.served_at.get(pending[0]) if pending else None
        if pending and served is not None and call.at >= served and not pending[1].done():
            pending[1].set_result(call.at - served)

    async def send(self, update: dict[str, Any], lands_in: str) -> float:
        """Push one update; return the time from its serving to a message in `lands_in`."""
        arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[lands_in] = (self.fake.push(update), arrived)
        try:
            return await asyncio.wait_for(arrived, 180)  # a loaded 2-core machine is slow, not lost
        finally:
            del self.waiting[lands_in]


@dataclass
class Person:
    user: dict[str, Any]
    updates: tu.Updates = field(default_factory=tu.Updates)

    @property
    def chat_id(self) -> str:
        return str(self.user["id"])

    def says(self, text: str) -> dict[str, Any]:
        return self.updates.message(tu.private_chat(self.user), self.user, text)


@dataclass
class Figures:
    to_staff: list[float] = field(default_factory=list)
    to_victim: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)


async def open_case(arrivals: Arrivals, victim: Person) -> None:
    await arrivals.send(victim.says("/start"), victim.chat_id)


async def case_of(haven: Haven, victim: Person) -> int:
    async with haven.db.transaction() as conn:
        case_id = await cases.open_case_id(conn, "telegram", victim.chat_id)
    assert case_id is not None
    return case_id


async def talk(
    arrivals: Arrivals, victim: Person, staff: Person, messages: int, figures: Figures
) -> None:
    for turn in range(messages):
        words = f"they posted it in another group, message {turn}"
        figures.to_staff.append(await arrivals.send(victim.says(words), staff.chat_id))
        answer = f"Thank you. I am looking at it now ({turn})."
        figures.to_victim.append(await arrivals.send(staff.says(answer), victim.chat_id))


async def plain(arrivals: Arrivals, victim: Person, messages: int, figures: Figures) -> None:
    await open_case(arrivals, victim)
    for turn in range(messages):
        words = f"I am not sure what to do next, {turn}"
        figures.plain.append(await arrivals.send(victim.says(words), victim.chat_id))


@contextlib.asynccontextmanager
async def haven_bot(fake: FakeBotAPI, data_dir: Path, staff: int) -> AsyncIterator[Haven]:
    config_path = data_dir.parent / "haven.toml"
    entries = "".join(STAFF_ENTRY.format(user_id=STAFF + n, number=n) for n in range(staff))
    config_path.write_text(CONFIG + entries, encoding="utf-8")
    config = load_config(config_path, data_dir_override=data_dir)
    options = TelegramOptions(
        token=fake.token,
        staff_chat_ids=frozenset({STAFF_GROUP}),
        api_base_url=fake.api_base_url,
        file_base_url=fake.file_base_url,
        rate_global_per_second=None,
        rate_per_group_per_minute=None,
    )
    adapter = TelegramAdapter(options)
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    freeze_startup_heap()  # as `haven run` does
    async with serving(haven, adapter, haven.dispatcher.handle):
        yield haven


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = statistics.quantiles(ordered, n=100)[98] if len(ordered) > 1 else ordered[0]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(p99 * 1000, 2),
    }


async def run(conversations: int, messages: int, plain_victims: int, scratch: Path) -> Figures:
    fake = FakeBotAPI()
    await fake.start()
    arrivals = Arrivals(fake)
    fake.on_call = arrivals.seen
    figures = Figures()
    victims = [
        Person(tu.user(VICTIMS + n, f"Victim{n}", language_code="en")) for n in range(conversations)
    ]
    staff = [
        Person(tu.user(STAFF + n, f"Staff{n}", language_code="en")) for n in range(conversations)
    ]
    others = [
        Person(tu.user(PLAIN + n, f"Other{n}", language_code="en")) for n in range(plain_victims)
    ]
    try:
        async with haven_bot(fake, scratch / "data", conversations) as haven:
            await asyncio.gather(*(open_case(arrivals, v) for v in victims))
            numbers = [await case_of(haven, v) for v in victims]
            await asyncio.gather(
                *(
                    arrivals.send(s.says(f"/reply {n} Hello, I'm here to help."), v.chat_id)
                    for v, s, n in zip(victims, staff, numbers, strict=True)
                )
            )
            await asyncio.gather(
                *(
                    talk(arrivals, v, s, messages, figures)
                    for v, s in zip(victims, staff, strict=True)
                ),
                *(plain(arrivals, o, messages, figures) for o in others),
            )
    finally:
        fake.on_call = None
        await fake.close()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--plain", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the figures, not warnings, are the output
    with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
        figures = await run(args.conversations, args.messages, args.plain, Path(scratch))
    to_staff, to_victim = summary(figures.to_staff), summary(figures.to_victim)
    relay = summary(figures.to_staff + figures.to_victim)
    plain_reply = summary(figures.plain)
    ratio = round(relay["p50_ms"] / plain_reply["p50_ms"], 3)
    print(
        f"conversations          {args.conversations} x {args.messages} victim messages "
        f"and {args.messages} staff replies; {args.plain} plain victims alongside"
    )
    for name, result in (
        ("victim -> staff", to_staff),
        ("staff -> victim", to_victim),
        ("plain bot reply", plain_reply),
    ):
        print(f"{name:<22} p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms (n={result['n']})")
    print(f"ratio                  {ratio} (relay p50 over the plain reply's p50)")
    report = {
        "bench": "handoff",
        "to_staff": to_staff,
        "to_victim": to_victim,
        "relay": relay,
        "plain": plain_reply,
        "ratio": ratio,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
