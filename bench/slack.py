"""Benchmark: Haven's Slack adapter and core against a bare slack-bolt app that only
acknowledges.

Both run the real slack-bolt AsyncApp behind an HTTP endpoint on 127.0.0.1, receiving
correctly signed requests, with the fake Slack Web API (tests/fakes) in the same run.
Simulated users each send a mix of messages, button presses (from the latest buttons
they were sent) and shared messages, one at a time: after each, a user waits for its
answer and then for its direct message to fall quiet. Haven's answer is its first reply
reaching the fake API, so its figure includes signature checks, the whole core (case
state, evidence, outbox, SQLite) and the outbound call; the baseline's answer is its
acknowledgement. Reported per app: events/s and the p50/p99 time from posting an event
to its answer. Ends with one JSON line whose "ratio" is Haven's throughput over the
baseline's.

    .venv/bin/python bench/slack.py [--users 50] [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

# The repository replaces this folder at the head of sys.path: the imports below need
# the repository, and bench/slack.py must not shadow the `slack` package of slack_sdk.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import SlackAdapter, SlackOptions
from bot.clock import SystemClock
from bot.config import load_config
from bot.events import Inbound, Outbound
from bot.runtime import Haven, freeze_startup_heap
from tests.chat_rig import serving
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackAPI
from tests.fakes.slack_events import Request, Traffic

QUIET_SECONDS = 0.02  # a chat with no new message for this long has had its whole answer
REPLY_METHODS = frozenset({"chat.postMessage", "chat.update"})
CONFIG = """
default_locale = "en"

[limits]
flood_messages = 100000

[adapters.slack]
rate_per_channel_per_second = 100000
"""


@dataclass
class Answers:
    """What the fake received, per channel, and the users waiting for a first reply."""

    fake: FakeSlackAPI
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    buttons: dict[str, list[str]] = field(default_factory=dict)
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)

    def seen(self, call: object) -> None:
        method = getattr(call, "method", "")
        params = getattr(call, "params", {})
        if method not in REPLY_METHODS:
            return
        channel = str(params.get("channel", ""))
        self.counts[channel] += 1
        values = [
            e["value"]
            for b in params.get("blocks") or []
            if b.get("type") == "actions"
            for e in b["elements"]
        ]
        if values:
            self.buttons[channel] = values
        pending = self.waiting.get(channel)
        if pending is not None and not pending.done():
            pending.set_result(time.perf_counter())


@dataclass
class Driver:
    """Posts signed requests to one endpoint and times the answers."""

    url: str
    fake: FakeSlackAPI
    answers: Answers
    http: aiohttp.ClientSession
    replies: bool  # True: the answer is a reply reaching the fake; False: the ack
    traffic: Traffic = field(default_factory=Traffic)  # one for all: event ids are unique

    async def exchange(self, channel: str, request: Request) -> float:
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[float] = loop.create_future()
        self.answers.waiting[channel] = reply
        headers = self.fake.signed(request.body, content_type=request.content_type)
        started = time.perf_counter()
        async with self.http.post(self.url, data=request.body.encode(), headers=headers) as r:
            assert r.status == 200, r.status
            acknowledged = time.perf_counter()
        answered = await asyncio.wait_for(reply, 30) if self.replies else acknowledged
        del self.answers.waiting[channel]
        while True:
            before = self.answers.counts[channel]
            await asyncio.sleep(QUIET_SECONDS)
            if self.answers.counts[channel] == before:
                return answered - started


async def one_user(driver: Driver, number: int, rounds: int, latencies: list[float]) -> int:
    user, channel = f"U{number:08d}", f"D{number:08d}"
    traffic = driver.traffic
    first = traffic.callback(traffic.message(channel, user, "hello"))
    latencies.append(await driver.exchange(channel, first))
    for turn in range(rounds):
        kind = turn % 3
        if kind == 0:
            event = traffic.message(channel, user, f"they posted it again, {turn}")
            request = traffic.callback(event)
        elif kind == 1:
            value = (driver.answers.buttons.get(channel) or ["0:stale"])[0]
            request = traffic.press(channel, user, value)
        else:
            shared = traffic.shared(
                channel, user, author="U0LEAKER", author_name="Leaker", origin="g", text=f"{turn}"
            )
            request = traffic.callback(shared)
        latencies.append(await driver.exchange(channel, request))
    return rounds + 1


async def drive(driver: Driver, users: int, rounds: int) -> dict[str, float]:
    driver.fake.on_call = driver.answers.seen
    latencies: list[float] = []
    started = time.perf_counter()
    jobs = (one_user(driver, n, rounds, latencies) for n in range(users))
    counts = await asyncio.gather(*jobs)
    elapsed = time.perf_counter() - started
    driver.fake.on_call = None
    total = sum(counts)
    return {
        "events": total,
        "seconds": round(elapsed, 3),
        "events_per_s": round(total / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(statistics.quantiles(latencies, n=100)[98] * 1000, 2),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def options_for(fake: FakeSlackAPI) -> SlackOptions:
    return SlackOptions(
        bot_token=fake.bot_token,
        signing_secret=fake.signing_secret,
        listen=f"127.0.0.1:{free_port()}",
        api_base_url=fake.base_url,
    )


@contextlib.asynccontextmanager
async def haven_app(fake: FakeSlackAPI, data_dir: Path) -> AsyncIterator[str]:
    config_path = data_dir.parent / "haven.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    config = load_config(config_path, data_dir_override=data_dir)
    adapter = SlackAdapter(options_for(fake))
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    freeze_startup_heap()  # as `haven run` does
    async with serving(haven, adapter, haven.dispatcher.handle):
        yield f"http://{adapter.options.listen}/slack/events"


@contextlib.asynccontextmanager
async def adapter_only(fake: FakeSlackAPI) -> AsyncIterator[str]:
    """Haven's adapter with a core that answers at once: the adapter's own share."""
    adapter = SlackAdapter(options_for(fake))

    async def echo(event: Inbound) -> None:
        reply = Outbound(event.chat, event.text or event.button_data or "ok")
        await adapter.send(reply)

    await adapter.start(echo)
    try:
        yield f"http://{adapter.options.listen}/slack/events"
    finally:
        await adapter.stop()


@contextlib.asynccontextmanager
async def bare_app(fake: FakeSlackAPI) -> AsyncIterator[str]:
    """The baseline: bolt verifies, dispatches and acknowledges; nothing else."""
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.base_url),
        signing_secret=fake.signing_secret,
    )

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()

    app.event("message")(acknowledge)
    app.action(re.compile(".*"))(acknowledge)
    server = web.Application()

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    server.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/slack/events"
    finally:
        await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # escalation warnings would drown the figures
    fake = FakeSlackAPI()
    await fake.start()
    for number in range(args.users):
        fake.add_user(f"U{number:08d}", f"User{number}")
    try:
        with tempfile.TemporaryDirectory(prefix="haven-bench-") as scratch:
            async with aiohttp.ClientSession() as http:
                async with bare_app(fake) as url:
                    driver = Driver(url, fake, Answers(fake), http, replies=False)
                    bare = await drive(driver, args.users, args.rounds)
                async with adapter_only(fake) as url:
                    driver = Driver(url, fake, Answers(fake), http, replies=True)
                    adapter = await drive(driver, args.users, args.rounds)
                async with haven_app(fake, Path(scratch) / "data") as url:
                    driver = Driver(url, fake, Answers(fake), http, replies=True)
                    haven = await drive(driver, args.users, args.rounds)
    finally:
        await fake.close()
    ratio = round(haven["events_per_s"] / bare["events_per_s"], 3)
    adapter_ratio = round(adapter["events_per_s"] / bare["events_per_s"], 3)
    print(f"users x rounds         {args.users} x {args.rounds + 1} (message, button, share)")
    results = (
        ("haven (to reply)", haven),
        ("adapter, echo core", adapter),
        ("bare bolt (to ack)", bare),
    )
    for name, result in results:
        print(
            f"{name:<22} {result['events_per_s']} events/s, "
            f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms"
        )
    print(f"ratio                  {ratio} (target >= 0.5)")
    print(f"adapter-only ratio     {adapter_ratio}")
    figures = {"haven": haven, "adapter_echo_core": adapter, "bare_bolt": bare}
    print(json.dumps({"bench": "slack", **figures, "ratio": ratio, "adapter_ratio": adapter_ratio}))


if __name__ == "__main__":
    asyncio.run(main())
