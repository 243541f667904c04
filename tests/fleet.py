"""Haven instances as separate processes (`haven run --adapter telegram`) behind a fake
Telegram that delivers webhooks round-robin, and victims played through that fake.

Used by tests/cluster/test_instances.py and bench/scale.py. Every instance has a data
directory of its own; they share the database (PostgreSQL, or SQLite for a single
instance) and the key files, copied from the first instance as an operator would. Each
serves /readyz ([health] listen), which is how the fleet knows it is up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.chat_rig import TRIAGE
from tests.fakes import telegram_updates as tu
from tests.fakes.http_faults import Call
from tests.fakes.telegram_api import FakeBotAPI

STAFF_FIRST, STAFF_SECOND = -1001, -1002
STAFF_USER = 9001
HOOK_PATH = "/telegram/hook"
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
KEY_FILES = ("master.key", "log-signing.key")
RECEIPT = re.compile(r"Kept safely as evidence #(\d+)")
# Behind a receipt's "Details" button: the fingerprint and the log position.
PROOF = re.compile(
    r"evidence item #(\d+)\.\n.*?\(SHA-256\): ([0-9a-f]{64})\nLog position: (\d+)", re.S
)
READY_SECONDS = 60.0
REPLY_SECONDS = 20.0

CONFIG = """
default_locale = "en"

[adapters]
enabled = ["telegram"]

[adapters.telegram]
mode = "webhook"
webhook_listen = "127.0.0.1:{webhook_port}"
webhook_url = "https://haven.example.org{hook}"
api_base_url = "{api}"
file_base_url = "{files}"
staff_chat_ids = [{first}, {second}]
rate_global_per_second = 100000
rate_per_chat_per_second = 100000
rate_per_group_per_minute = 100000

[health]
listen = "127.0.0.1:{health_port}"

[storage]
database_url = "{database}"

[reminders]
quiet_hours_enabled = false

[briefing]
enabled = false

[support]
hotlines = [{{ name = "Test support line", number = "000-TEST", hours = "24h" }}]

[[escalation.levels]]
channels = ["telegram:{first}"]
timeout_minutes = {timeout}
repeat_minutes = {timeout}

[[escalation.levels]]
channels = ["telegram:{second}"]
timeout_minutes = {timeout}
repeat_minutes = {timeout}

[[staff]]
platform = "telegram"
user_id = "{staff}"
role = "operator"
name = "Operator"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Message:
    text: str
    buttons: list[str]


class Chats:
    """What the fake sent to each chat, indexed as it goes (the fake keeps one list)."""

    def __init__(self, fake: FakeBotAPI) -> None:
        self.by_chat: dict[int, list[Message]] = {}
        self.changed = asyncio.Event()
        fake.on_call = self._seen

    def _seen(self, call: Call) -> None:
        if call.method != "sendMessage" or call.status != 200:
            return
        markup = call.params.get("reply_markup") or {}
        buttons = [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
        chat = int(call.params["chat_id"])
        self.by_chat.setdefault(chat, []).append(Message(str(call.params["text"]), buttons))
        self.changed.set()

    def of(self, chat: int) -> list[Message]:
        return self.by_chat.get(chat, [])

    async def until(self, ready: Any, seconds: float) -> bool:
        """Until ``ready()``; False when ``seconds`` passed first."""
        deadline = time.monotonic() + seconds
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 1.0)):
                    await self.changed.wait()
        return True


@dataclass
class Instance:
    data_dir: Path
    webhook_port: int
    health_port: int
    process: asyncio.subprocess.Process | None = None


@dataclass
class Fleet:
    """Instances of one deployment, and the fake Telegram in front of them."""

    root: Path
    fake: FakeBotAPI
    database_url: str
    escalation_minutes: float = 30.0
    instances: list[Instance] = field(default_factory=list)

    async def start(self, count: int) -> None:
        for index in range(count):
            await self.start_instance(index)

    async def start_instance(self, index: int) -> Instance:
        while len(self.instances) <= index:
            number = len(self.instances)
            self.instances.append(Instance(self.root / f"i{number}", free_port(), free_port()))
        instance = self.instances[index]
        instance.data_dir.mkdir(parents=True, exist_ok=True)
        if index > 0:  # an operator copies the key files to every instance
            for name in KEY_FILES:
                source = self.instances[0].data_dir / name
                if source.exists() and not (instance.data_dir / name).exists():
                    shutil.copy2(source, instance.data_dir / name)
        config = self.root / f"i{index}.toml"
        config.write_text(self._config(instance), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
        env.update(HAVEN_TELEGRAM_TOKEN=self.fake.token, HAVEN_MASTER_KEY=MASTER_KEY)
        log = (self.root / f"i{index}.out").open("ab")
        instance.process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "bot", "run", "--config", str(config), "--data-dir", str(instance.data_dir)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
        )
        log.close()
        await self._until_ready(instance)
        self.fake.webhook_targets = [
            f"http://127.0.0.1:{i.webhook_port}{HOOK_PATH}" for i in self.instances
        ]
        return instance

    def _config(self, instance: Instance) -> str:
        return CONFIG.format(
            webhook_port=instance.webhook_port,
            health_port=instance.health_port,
            hook=HOOK_PATH,
            api=self.fake.api_base_url,
            files=self.fake.file_base_url,
            first=STAFF_FIRST,
            second=STAFF_SECOND,
            database=self.database_url,
            timeout=self.escalation_minutes,
            staff=STAFF_USER,
        )

    async def _until_ready(self, instance: Instance) -> None:
        """Poll its /readyz: another process, which says when it is ready no other way."""
        url = f"http://127.0.0.1:{instance.health_port}/readyz"
        deadline = time.monotonic() + READY_SECONDS
        async with aiohttp.ClientSession() as session:
            while True:
                assert instance.process is not None
                if instance.process.returncode is not None:
                    raise AssertionError(f"instance exited: {self.output(instance)[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(url) as response:
                        if response.status == 200:
                            return
                assert time.monotonic() < deadline, self.output(instance)[-3000:]
                await asyncio.sleep(0.1)

    def output(self, instance: Instance) -> str:
        index = self.instances.index(instance)
        return (self.root / f"i{index}.out").read_text(errors="replace")

    def kill(self, index: int) -> None:
        """kill -9: no shutdown, no last writes."""
        process = self.instances[index].process
        assert process is not None
        process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        for instance in self.instances:
            process = instance.process
            if process is None or process.returncode is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await self.fake.close_webhook_client()


@dataclass
class Victim:
    """One person in a private chat, through the fake's webhooks: types, taps, waits."""

    chats: Chats
    fake: FakeBotAPI
    user_id: int
    updates: tu.Updates = field(default_factory=tu.Updates)
    receipts: list[tuple[int, str, int]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    resent: int = 0

    @property
    def user(self) -> dict[str, Any]:
        return tu.user(self.user_id, f"Victim {self.user_id}")

    @property
    def chat(self) -> dict[str, Any]:
        return tu.private_chat(self.user)

    def messages(self) -> list[Message]:
        return self.chats.of(self.user_id)

    async def send(self, update: Any, wanted: Any) -> list[Message]:
        """Deliver ``update()`` until ``wanted(new messages)`` holds, as a person would
        send again after a while without an answer; the new messages."""
        for _ in range(5):
            before = len(self.messages())
            started = time.perf_counter()
            await self.fake.deliver(update())

            def answered(before: int = before) -> bool:
                return bool(wanted(self.messages()[before:]))

            if await self.chats.until(answered, REPLY_SECONDS):
                self.latencies.append(time.perf_counter() - started)
                return self.messages()[before:]
            self.resent += 1
        raise AssertionError(f"victim {self.user_id}: no answer after 5 tries")

    async def text(self, text: str) -> None:
        await self.send(lambda: self.updates.message(self.chat, self.user, text), _any)

    async def press(self, key: str) -> None:
        buttons = self.latest_buttons()
        data = next(b for b in buttons if b.split(":", 2)[-1] == key or b.endswith(":" + key))
        await self.send(lambda: self.updates.press(self.chat, self.user, data), _with_buttons)

    def latest_buttons(self) -> list[str]:
        """The buttons of the latest prompt (a receipt's "Details" is not one)."""
        prompts = (m.buttons for m in reversed(self.messages()) if _is_prompt(m.buttons))
        return next(prompts, [])

    async def evidence(self, text: str) -> None:
        origin = tu.origin_user(tu.user(5555, "Leaker"), int(time.time()) - 3600)
        new = await self.send(
            lambda: self.updates.forward(self.chat, self.user, origin, text), _receipted
        )
        await self._note_receipts(new)

    async def photo(self, content: bytes) -> None:
        file_id = f"photo-{self.user_id}-{len(self.receipts)}"
        for size in tu.photo_sizes(file_id):
            self.fake.add_file(size["file_id"], content)
        new = await self.send(lambda: self.updates.photo(self.chat, self.user, file_id), _receipted)
        await self._note_receipts(new)

    async def _note_receipts(self, new: Sequence[Message]) -> None:
        """Each receipt's proof, as the person would see it: its "Details" button."""
        for message in new:
            if not RECEIPT.search(message.text):
                continue
            data = next(b for b in message.buttons if b.startswith("evd:"))
            shown = await self.send(
                lambda data=data: self.updates.press(self.chat, self.user, data), _proven
            )
            for proof in shown:
                for found in PROOF.finditer(proof.text):
                    number, digest, position = found.groups()
                    self.receipts.append((int(number), digest, int(position)))

    async def journey(self, extortion: str = "no") -> None:
        """/start, triage, two items of evidence, then the checklist to its end."""
        await self.send(lambda: self.updates.message(self.chat, self.user, "/start"), _with_buttons)
        for key in TRIAGE:
            await self.press(f"extortion={extortion}" if key == "extortion=no" else key)
        await self.evidence(f"pay 5000 or everyone sees it ({self.user_id})")
        await self.photo(f"screenshot of {self.user_id} ".encode() * 300)
        pressed: set[str] = set()
        for _ in range(40):
            forward = [b for b in self.latest_buttons() if b.endswith(("path=police", "=done"))]
            if not forward or forward[0] in pressed:
                return
            data = forward[0]
            pressed.add(data)
            await self.send(lambda data=data: self.updates.press(self.chat, self.user, data), _any)


def _is_prompt(buttons: list[str]) -> bool:
    return bool(buttons) and not all(b.startswith("evd:") for b in buttons)


def _any(new: Sequence[Message]) -> bool:
    return bool(new)


def _receipted(new: Sequence[Message]) -> bool:
    return any(RECEIPT.search(message.text) for message in new)


def _proven(new: Sequence[Message]) -> bool:
    return any(PROOF.search(message.text) for message in new)


def _with_buttons(new: Sequence[Message]) -> bool:
    return any(m.buttons for m in new)
