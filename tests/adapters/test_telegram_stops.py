"""`haven run` stopped in the middle of a burst loses nothing the platform let go of.

The real `haven run --adapter telegram` polls the fake Bot API as a separate process.
Five victims forward 200 messages and upload 20 files (two of which the fake cannot hand
out) while the process is stopped again and again at random moments, by SIGTERM (a clean
stop: exit 0) or SIGKILL (no last writes at all). Telegram forgets an update once
getUpdates is called with a higher offset; the fake records that offset. After the last
restart every confirmed update has its receipt (the number of the item stored with its
SHA-256, named in a message to the victim), or the victim was told the file could not be
fetched; the intake journal is empty.

In webhook mode Telegram counts an update delivered at the HTTP 200: forwarded files
delivered by webhook, the process SIGKILLed the moment the last 200 came back, are all
receipted after the restart (resumed from the intake journal).

Also here: at start the outbox sender waits for the adapter, so a message queued before
the start is delivered on its first attempt.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.content.playbook import load_playbook
from bot.content.prompts import Reply
from bot.delivery.outbox import payload_of
from bot.events import ChatRef
from storage import intake_journal, outbox
from storage.database import Database
from storage.schema import evidence_items
from storage.schema import outbox as outbox_table
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeBotAPI

TRIALS = 10
VICTIMS = 5
FORWARDS = 200
FILES = 20
UNFETCHABLE = 2  # files the fake has no bytes for: getFile answers 400
START_SECONDS = 60.0
SETTLE_SECONDS = 90.0
EXIT_SECONDS = 30.0
HOOK_PATH = "/telegram/hook"
WEBHOOK_FORWARDS = 12

CONFIG = """
default_locale = "en"

[adapters]
enabled = ["telegram"]

[adapters.telegram]
api_base_url = "{api}"
file_base_url = "{files}"
rate_global_per_second = 100000
rate_per_chat_per_second = 100000
rate_per_group_per_minute = 100000
{receiving}
[reminders]
quiet_hours_enabled = false

[briefing]
enabled = false

[support]
hotlines = [{{ name = "Test support line", number = "000-TEST", hours = "24h" }}]

[[escalation.levels]]
channels = ["telegram:-1001"]
"""


@dataclass
class Sent:
    """One update of the burst, and what proves it was kept."""

    update: dict[str, Any]
    chat: int
    digest: str = ""  # the SHA-256 of the item its receipt must name
    unfetchable: bool = False


@dataclass
class Deployment:
    root: Path
    fake: FakeBotAPI
    outputs: list[Path] = field(default_factory=list)
    webhook_port: int = 0  # 0: long polling

    @property
    def receiving(self) -> str:
        if not self.webhook_port:
            return ""
        return (
            'mode = "webhook"\n'
            f'webhook_listen = "127.0.0.1:{self.webhook_port}"\n'
            f'webhook_url = "https://haven.example.org{HOOK_PATH}"\n'
        )

    def ready_calls(self) -> int:
        """Receiving begins (after the journal was resumed) with this call to the API."""
        return len(self.fake.requests("setWebhook" if self.webhook_port else "getUpdates"))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    async def start(self) -> asyncio.subprocess.Process:
        config = self.root / "haven.toml"
        config.write_text(
            CONFIG.format(
                api=self.fake.api_base_url,
                files=self.fake.file_base_url,
                receiving=self.receiving,
            ),
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
        env["HAVEN_TELEGRAM_TOKEN"] = self.fake.token
        output = self.root / f"run-{len(self.outputs)}.out"
        self.outputs.append(output)
        calls = self.ready_calls()
        with output.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "bot", "run", "--config", str(config), "--data-dir", str(self.data_dir)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                env=env,
            )
        started = self.fake.wait_for(lambda: self.ready_calls() > calls, START_SECONDS)
        exited = asyncio.ensure_future(process.wait())
        done, _ = await asyncio.wait(
            {asyncio.ensure_future(started), exited}, return_when=asyncio.FIRST_COMPLETED
        )
        assert exited not in done, self.output()
        exited.cancel()
        return process

    async def stop(self, process: asyncio.subprocess.Process, how: signal.Signals) -> int:
        process.send_signal(how)
        async with asyncio.timeout(EXIT_SECONDS):
            return await process.wait()

    def output(self) -> str:
        return self.outputs[-1].read_text(errors="replace")[-3000:]

    def log(self) -> str:
        return (self.data_dir / "haven.log").read_text(errors="replace")


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    fake = FakeBotAPI()
    await fake.start()
    try:
        yield Deployment(tmp_path, fake)
    finally:
        await fake.close()


def burst(fake: FakeBotAPI, rng: random.Random) -> list[Sent]:
    """200 forwards and 20 files from five victims, in a random order."""
    updates = tu.Updates()
    victims = [tu.user(8000 + n, f"Victim {n}", language_code="en") for n in range(VICTIMS)]
    leaker = tu.user(6666, "Leaker")
    sent: list[Sent] = []
    for number in range(FORWARDS):
        victim = victims[number % VICTIMS]
        text = f"forwarded {number}: {rng.getrandbits(64):x}"
        origin = tu.origin_user(leaker, 1_700_000_000 + number)
        update = updates.forward(tu.private_chat(victim), victim, origin, text)
        sent.append(Sent(update, victim["id"], hashlib.sha256(text.encode()).hexdigest()))
    for number in range(FILES):
        victim = victims[number % VICTIMS]
        file_id = f"doc-{number}"
        data = rng.randbytes(rng.randrange(2_000, 60_000))
        unfetchable = number < UNFETCHABLE  # victims 0 and 1 each send one of these
        if not unfetchable:
            fake.add_file(file_id, data)
        update = updates.document(
            tu.private_chat(victim), victim, file_id, f"scan-{number}.pdf", len(data)
        )
        digest = "" if unfetchable else hashlib.sha256(data).hexdigest()
        sent.append(Sent(update, victim["id"], digest, unfetchable))
    rng.shuffle(sent)
    return sent


# A receipt names the item's number (its proof is behind a "Details" button): alone, or as
# a line of a batch's receipt.
RECEIPTED = re.compile(
    r"Kept safely as evidence #(\d+)|已妥善保存为第(\d+)号证据|^#(\d+)(?: ·|｜)", re.M
)


def receipted(fake: FakeBotAPI, chat: int) -> set[int]:
    return {
        int(next(n for n in found.groups() if n))
        for text in fake.texts(chat)
        for found in RECEIPTED.finditer(text)
    }


def kept(fake: FakeBotAPI, item: Sent, fetch_failed: str, numbers: dict[str, int]) -> bool:
    """Told it could not be fetched, or stored (``numbers``: item numbers by SHA-256) and
    its number named in a receipt."""
    if item.unfetchable:
        return any(fetch_failed in text for text in fake.texts(item.chat))
    number = numbers.get(item.digest)
    return number is not None and number in receipted(fake, item.chat)


def all_receipted(fake: FakeBotAPI, items: list[Sent], fetch_failed: str) -> bool:
    """As many receipts in each chat as items it sent, and every refusal said."""
    wanted: dict[int, int] = {}
    for item in items:
        if item.unfetchable and not kept(fake, item, fetch_failed, {}):
            return False
        wanted[item.chat] = wanted.get(item.chat, 0) + (not item.unfetchable)
    return all(len(receipted(fake, chat)) >= n for chat, n in wanted.items())


async def stored_numbers(data_dir: Path) -> dict[str, int]:
    """Item numbers by SHA-256 (each victim's items differ), read while the bot is stopped."""
    db = Database.open(f"sqlite+aiosqlite:///{data_dir / 'haven.db'}")
    try:
        async with db.transaction() as conn:
            query = select(evidence_items.c.content_sha256, evidence_items.c.item_no)
            return {digest: number for digest, number in await conn.execute(query)}
    finally:
        await db.close()


async def journal_rows(data_dir: Path) -> int:
    db = Database.open(f"sqlite+aiosqlite:///{data_dir / 'haven.db'}")
    try:
        async with db.transaction() as conn:
            return await intake_journal.count(conn)
    finally:
        await db.close()


async def test_stops_at_random_moments_in_a_burst_lose_nothing_confirmed(
    deployment: Deployment,
) -> None:
    rng = random.Random(20261206)
    fake = deployment.fake
    items = burst(fake, rng)
    ids: list[int] = []
    fetch_failed = load_playbook().texts.get("en", "evidence.fetch_failed")
    chunk = -(-len(items) // TRIALS)
    confirmed_unkept: set[int] = set()
    for trial in range(TRIALS):
        process = await deployment.start()
        for item in items[trial * chunk : (trial + 1) * chunk]:
            ids.append(fake.push(item.update))
        await asyncio.sleep(rng.uniform(0.0, 0.8))  # a random moment of the burst
        how = signal.SIGTERM if trial % 2 else signal.SIGKILL
        code = await deployment.stop(process, how)
        if how is signal.SIGTERM:
            assert code == 0, deployment.output()
        # Confirmed to Telegram but not receipted yet: what a stop used to lose.
        numbers = await stored_numbers(deployment.data_dir)
        confirmed_unkept.update(
            update_id
            for update_id, item in zip(ids, items, strict=False)
            if update_id < fake.confirmed_below and not kept(fake, item, fetch_failed, numbers)
        )
    process = await deployment.start()
    try:
        await fake.wait_for(lambda: all_receipted(fake, items, fetch_failed), SETTLE_SECONDS)
    finally:
        assert await deployment.stop(process, signal.SIGTERM) == 0, deployment.output()
    assert fake.confirmed_below > max(ids), "every update was confirmed in the end"
    numbers = await stored_numbers(deployment.data_dir)
    lost = [item for item in items if not kept(fake, item, fetch_failed, numbers)]
    assert lost == []
    assert await journal_rows(deployment.data_dir) == 0
    assert "stopping on SIGTERM" in deployment.log()
    print(f"updates confirmed, not yet receipted at a stop: {len(confirmed_unkept)}")


async def test_forwarded_files_a_webhook_answered_200_survive_a_sigkill_right_after(
    deployment: Deployment,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        deployment.webhook_port = int(probe.getsockname()[1])
    fake = deployment.fake
    fake.webhook_targets = [f"http://127.0.0.1:{deployment.webhook_port}{HOOK_PATH}"]
    rng = random.Random(20261207)
    updates = tu.Updates()
    victims = [tu.user(8200 + n, f"Victim {n}", language_code="en") for n in range(3)]
    leaker = tu.user(6667, "Leaker")
    items: list[Sent] = []
    for number in range(WEBHOOK_FORWARDS):
        victim = victims[number % len(victims)]
        data = rng.randbytes(rng.randrange(2_000, 30_000))
        fake.add_file(f"fwd-{number}", data)
        update = updates.document(
            tu.private_chat(victim),
            victim,
            f"fwd-{number}",
            f"chat-export-{number}.pdf",
            len(data),
            forward_origin=tu.origin_user(leaker, 1_700_000_000 + number),
        )
        items.append(Sent(update, victim["id"], hashlib.sha256(data).hexdigest()))
    process = await deployment.start()
    # Telegram posts them side by side; each 200 tells it to forget that update.
    await asyncio.gather(*(fake.deliver(item.update) for item in items))
    assert await deployment.stop(process, signal.SIGKILL) == -signal.SIGKILL
    process = await deployment.start()
    try:
        await fake.wait_for(lambda: all_receipted(fake, items, ""), SETTLE_SECONDS)
    finally:
        assert await deployment.stop(process, signal.SIGTERM) == 0, deployment.output()
    numbers = await stored_numbers(deployment.data_dir)
    assert [item for item in items if not kept(fake, item, "", numbers)] == []
    assert await journal_rows(deployment.data_dir) == 0


async def test_a_message_queued_before_the_start_is_delivered_on_its_first_attempt(
    deployment: Deployment,
) -> None:
    victim = tu.user(8100, "Early", language_code="en")
    data_dir = deployment.data_dir
    data_dir.mkdir(mode=0o700)
    db = Database.open(f"sqlite+aiosqlite:///{data_dir / 'haven.db'}")
    try:
        await db.migrate()
        chat = ChatRef("telegram", str(victim["id"]))
        async with db.transaction() as conn:
            await outbox.enqueue(
                conn,
                platform="telegram",
                chat_id=chat.chat_id,
                payload=payload_of(chat, Reply("waiting since the last run")),
                case_id=None,
                now=datetime.now(UTC),
            )
    finally:
        await db.close()
    process = await deployment.start()
    try:
        await deployment.fake.wait_for(
            lambda: "waiting since the last run" in deployment.fake.texts(victim["id"])
        )
    finally:
        assert await deployment.stop(process, signal.SIGTERM) == 0, deployment.output()
    db = Database.open(f"sqlite+aiosqlite:///{data_dir / 'haven.db'}")
    try:
        async with db.transaction() as conn:
            row = (await conn.execute(select(outbox_table))).mappings().one()
    finally:
        await db.close()
    assert (row["state"], row["attempts"], row["last_error"]) == ("sent", 0, "")
