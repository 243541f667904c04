"""The Telegram adapter: the real python-telegram-bot Application and the real Haven core,
against the fake Bot API in tests/fakes on 127.0.0.1. Nothing of python-telegram-bot is
mocked; what the core receives is recorded by wrapping its handler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.telegram import TelegramAdapter, TelegramOptions
from adapters.text_split import split_text, utf16_length
from bot.adapter import AdapterStartError, DeliveryError, FileTooLarge
from bot.clock import SystemClock
from bot.config import load_config
from bot.events import (
    Button,
    ChatKind,
    ChatRef,
    Inbound,
    InboundKind,
    OriginKind,
    Outbound,
    OutboundFile,
)
from bot.evidence.export import EXPORTS_DIR
from bot.runtime import Haven, build_adapters, telegram_options
from storage import intake_journal
from storage.schema import cases, evidence_items, message_log
from tests.chat_rig import (
    TRIAGE,
    dead_letters,
    outbox_texts,
    retry_quickly,
    serving,
    until_outbox_empty,
)
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import BOT_USER, FakeBotAPI

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

STAFF_GROUP = -100500
VICTIM = tu.user(7001, "Mei", language_code="en")
VICTIM_CHAT = tu.private_chat(VICTIM)
OTHER = tu.user(7003, "Hua", language_code="en")

CONFIG = f"""
default_locale = "en"

[support]
hotlines = [{{ name = "Test support line", number = "000-TEST", hours = "24h" }}]

[limits]
flood_messages = 10

[adapters]
enabled = ["telegram"]

[adapters.telegram]
staff_chat_ids = [{STAFF_GROUP}]
# Telegram's pacing is the outbox's job, tested there; here it would only slow tests.
rate_global_per_second = 100000
rate_per_chat_per_second = 100000
rate_per_group_per_minute = 100000

[[escalation.levels]]
channels = ["telegram:{STAFF_GROUP}"]

[[staff]]
platform = "telegram"
user_id = "9001"
role = "operator"
name = "Operator"
"""


@dataclass
class Rig:
    """A running Haven with the Telegram adapter, and what its core was handed."""

    fake: FakeBotAPI
    haven: Haven
    adapter: TelegramAdapter
    updates: tu.Updates = field(default_factory=tu.Updates)
    inbound: list[Inbound] = field(default_factory=list)
    handled: int = 0
    hold: asyncio.Event | None = None  # while set here and not yet set, the core waits

    async def core(self, event: Inbound) -> None:
        self.inbound.append(event)
        if self.hold is not None:
            await self.hold.wait()
        try:
            await self.haven.dispatcher.handle(event)
        finally:
            self.handled += 1
            self.fake.notify()  # wakes wait_for: the core's progress is an event too

    async def settle(self, events: int) -> None:
        """Until the core has handled `events` in all and the outbox is empty."""
        await self.fake.wait_for(lambda: self.handled >= events)
        await until_outbox_empty(self.haven)

    async def exchange(self, update: dict[str, Any]) -> list[str]:
        """Send one update as the victim; return the texts the bot answered with."""
        before = len(self.fake.texts(VICTIM["id"]))
        self.fake.push(update)
        await self.settle(self.handled + 1)
        return self.fake.texts(VICTIM["id"])[before:]

    async def press(self, key: str) -> list[str]:
        buttons = self.fake.last_buttons(VICTIM["id"])
        data = next(b for b in buttons if b.split(":", 2)[-1] == key or b.endswith(":" + key))
        return await self.exchange(self.updates.press(VICTIM_CHAT, VICTIM, data))

    def text(self, key: str, **fields: object) -> str:
        return self.haven.playbook.texts.get("en", key, **fields)


def options_for(fake: FakeBotAPI, **changes: Any) -> TelegramOptions:
    options = TelegramOptions(
        token=fake.token,
        staff_chat_ids=frozenset({STAFF_GROUP}),
        api_base_url=fake.api_base_url,
        file_base_url=fake.file_base_url,
        rate_global_per_second=None,
        rate_per_group_per_minute=None,
        group_notice="Haven only helps in private chats.",
        album_wait_seconds=0.05,
        poll_timeout_seconds=1,
    )
    return dataclasses.replace(options, **changes)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, fake: FakeBotAPI, **changes: Any) -> AsyncIterator[Rig]:
    path = tmp_path / "haven.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(
        path, data_dir_override=tmp_path / "data", environ={"HAVEN_TELEGRAM_TOKEN": fake.token}
    )
    adapter = TelegramAdapter(options_for(fake, **changes))
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    retry_quickly(haven)
    rig = Rig(fake, haven, adapter)
    async with serving(haven, adapter, rig.core):
        yield rig


@pytest.fixture
async def rig(tmp_path: Path, fake: FakeBotAPI) -> AsyncIterator[Rig]:
    async with running(tmp_path, fake) as started:
        yield started


# ---- the journey ----------------------------------------------------------------------


async def test_full_journey_through_triage_into_step_one(rig: Rig) -> None:
    first = await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    assert first, "the bot answered /start"
    for key in TRIAGE:
        await rig.press(key)
    transcript = "\n".join(rig.fake.texts(VICTIM["id"]))
    assert rig.text("item.forward_evidence.title") in transcript
    # Every press was answered, so no button kept spinning, and every press reached the
    # core as a button event from the victim's private chat.
    presses = [e for e in rig.inbound if e.kind is InboundKind.BUTTON]
    assert len(presses) == len(TRIAGE)
    assert len(rig.fake.sent("answerCallbackQuery")) == len(TRIAGE)
    assert {e.chat for e in presses} == {ChatRef("telegram", "7001", ChatKind.PRIVATE)}
    assert rig.inbound[0].kind is InboundKind.COMMAND and rig.inbound[0].command == "start"
    assert rig.inbound[0].locale_hint == "en"


async def test_extortion_alerts_the_staff_group(rig: Rig) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    for key in ("lang:en", "ok:", "safety=no", "extortion=yes"):
        await rig.press(key)
    staff = rig.fake.texts(STAFF_GROUP)
    assert len(staff) == 1
    assert rig.haven.playbook.texts.get("en", "reason.extortion") in staff[0]


async def test_a_staff_member_acknowledges_in_the_group_and_the_alert_is_edited(
    rig: Rig,
) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    for key in ("lang:en", "ok:", "safety=no", "extortion=yes"):
        await rig.press(key)
    ack = next(b for b in rig.fake.last_buttons(STAFF_GROUP) if b.startswith("s:ack:"))
    group = tu.group_chat(STAFF_GROUP, "Haven staff")
    rig.fake.push(rig.updates.press(group, tu.user(9001, "Operator"), ack))

    def edited() -> list[str]:
        return [
            str(c.params["text"])
            for c in rig.fake.requests("editMessageText")
            if int(c.params["chat_id"]) == STAFF_GROUP
        ]

    (text,) = await rig.fake.wait_for(edited)
    assert rig.text("staff_reason.extortion") in text and "✅ Acknowledged by Operator at" in text
    on_it = rig.text("ui.staff_on_it")
    await rig.fake.wait_for(lambda: on_it in rig.fake.texts(VICTIM["id"]))


async def test_a_stale_button_is_answered_and_the_victim_is_put_back(rig: Rig) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    old_keyboard = rig.fake.last_buttons(VICTIM["id"])
    await rig.press("lang:en")
    await rig.press("ok:")
    replies = await rig.exchange(rig.updates.press(VICTIM_CHAT, VICTIM, old_keyboard[0]))
    assert replies[0].startswith(rig.text("ui.stale_button"))
    assert rig.text("question.safety.prompt") in replies[-1], "the current question is asked again"
    assert len(rig.fake.sent("answerCallbackQuery")) == 3


# ---- forwards, files, albums, edits -----------------------------------------------------


async def test_forwarded_origins_of_every_kind_reach_the_core(rig: Rig) -> None:
    when = int(datetime(2025, 11, 3, 14, 30, tzinfo=UTC).timestamp())
    leaker = tu.user(555, "Wang", last_name="Lei", username="wanglei")
    group = tu.group_chat(-100777, "Hotel staff")
    channel = tu.channel_chat(-100888, "Gossip", username="gossipchan")
    origins = (
        tu.origin_user(leaker, when),
        tu.origin_hidden_user("Anonymous Fox", when),
        tu.origin_chat(group, when, signature="admin"),
        tu.origin_channel(channel, 4321, when, signature="editor"),
    )
    replies = []
    for origin in origins:
        forward = rig.updates.forward(VICTIM_CHAT, VICTIM, origin, text="her chats, look")
        replies.append(await rig.exchange(forward))
    assert all(replies), "the core answered every forward"
    events = [e for e in rig.inbound if e.kind is InboundKind.FORWARD]
    found = [e.forward_origin for e in events]
    assert all(
        o is not None and o.original_date == datetime.fromtimestamp(when, UTC) for o in found
    )
    user, hidden, chat, channel_origin = (o for o in found if o is not None)
    assert (user.kind, user.sender_id, user.sender_name) == (
        OriginKind.USER,
        "555",
        "Wang Lei (@wanglei)",
    )
    assert (hidden.kind, hidden.sender_name) == (OriginKind.HIDDEN_USER, "Anonymous Fox")
    assert (chat.kind, chat.chat_title, chat.author_signature) == (
        OriginKind.CHAT,
        "Hotel staff",
        "admin",
    )
    assert channel_origin.kind is OriginKind.CHANNEL
    assert channel_origin.original_message_id == "4321"
    assert channel_origin.permalink == "https://t.me/gossipchan/4321"
    assert {e.text for e in events} == {"her chats, look"}


async def test_an_album_arrives_as_one_event_with_the_largest_photos(rig: Rig) -> None:
    for n in range(3):
        rig.fake.add_file(f"p{n}-1280", f"photo {n}".encode())
    album = [
        rig.updates.photo(VICTIM_CHAT, VICTIM, f"p{n}", media_group_id="alb1", **caption)
        for n, caption in enumerate(({"caption": "screenshots from the group"}, {}, {}))
    ]
    for update in album:
        rig.fake.push(update)
    await rig.settle(1)
    assert len(rig.inbound) == 1
    event = rig.inbound[0]
    assert event.kind is InboundKind.ATTACHMENT
    assert event.media_group_id == "alb1"
    assert event.text == "screenshots from the group"
    assert [a.platform_file_id for a in event.attachments] == ["p0-1280", "p1-1280", "p2-1280"]
    downloads = [c.params["path"] for c in rig.fake.sent("download")]
    assert sorted(downloads) == ["p0-1280", "p1-1280", "p2-1280"], "the core kept every photo"
    assert rig.fake.texts(VICTIM["id"]), "and answered"


async def test_an_oversized_file_is_refused_without_downloading(rig: Rig) -> None:
    rig.fake.add_file("big", b"x", size=25_000_000)
    rig.fake.add_file("lies", b"x", size=30_000_000)
    await rig.exchange(rig.updates.document(VICTIM_CHAT, VICTIM, "big", "chat.pdf", 25_000_000))
    await rig.exchange(rig.updates.document(VICTIM_CHAT, VICTIM, "lies", "small.pdf", 1_000))
    big, understated = (e.attachments[0] for e in rig.inbound)
    assert big.size == 25_000_000 and big.file_name == "chat.pdf"
    asked = [c.params["file_id"] for c in rig.fake.requests("getFile")]
    assert asked == ["lies"], "a file known to be too big is not even asked for"
    with pytest.raises(FileTooLarge):
        await big.fetch()
    with pytest.raises(FileTooLarge):
        await understated.fetch()  # the size claimed was small; getFile says too big
    assert not rig.fake.sent("download")
    answers = rig.fake.texts(VICTIM["id"])
    refusals = [text for text in answers if "more than the" in text]
    assert len(refusals) == 2, f"both were refused as too large: {answers}"


async def test_an_edit_is_a_new_event_linked_to_the_original(rig: Rig) -> None:
    original = rig.updates.raw_message(VICTIM_CHAT, VICTIM, "he sent it at 9")
    await rig.exchange({"message": original})
    await rig.exchange(rig.updates.edited(original, "he sent it at 10"))
    first, edit = rig.inbound
    assert edit.kind is InboundKind.EDIT
    assert edit.edited_message_id == first.message_id
    assert edit.message_id != first.message_id, "the edit must not look like a redelivery"
    assert edit.text == "he sent it at 10"


# ---- groups -----------------------------------------------------------------------------


async def test_other_groups_get_one_explanation_and_reach_nothing(rig: Rig) -> None:
    group = tu.group_chat(-100999, "Neighbours")
    member = tu.user(8001, "Bob")
    rig.fake.push(rig.updates.joined(group, member, BOT_USER))
    for text in ("/start", "hello bot", "/status@haven_test_bot"):
        rig.fake.push(rig.updates.message(group, member, text))
    await rig.fake.wait_for(lambda: rig.fake.texts(-100999))
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))  # a barrier
    assert rig.fake.texts(-100999) == ["Haven only helps in private chats."]
    assert [e.chat.chat_id for e in rig.inbound] == ["7001"]


async def test_the_staff_group_is_the_staff_channel(rig: Rig) -> None:
    staff = tu.user(9001, "Operator")
    group = tu.group_chat(STAFF_GROUP, "Haven staff")
    rig.fake.push(rig.updates.message(group, staff, "/status@haven_test_bot 12"))
    rig.fake.push(rig.updates.message(group, staff, "/status@other_bot"))
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    staff_events = [e for e in rig.inbound if e.chat.kind is ChatKind.STAFF]
    assert [(e.command, e.args) for e in staff_events] == [("status", "12")]
    assert staff_events[0].identity.user_id == "9001"
    # The staff desk answers (9001 is not configured staff); the group explanation never comes.
    assert "Haven only helps in private chats." not in rig.fake.texts(STAFF_GROUP)


# ---- webhook ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_forged_webhook_request_gets_403_and_nothing_is_processed(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    port = free_port()
    options = {
        "mode": "webhook",
        "webhook_listen": f"127.0.0.1:{port}",
        "webhook_url": "https://haven.example.org/telegram/hook",
    }
    async with running(tmp_path, fake, **options) as rig:
        secret = rig.adapter.webhook_secret
        assert fake.webhook["url"] == "https://haven.example.org/telegram/hook"
        assert fake.webhook["secret_token"] == secret
        url = f"http://127.0.0.1:{port}/telegram/hook"
        forged = {"update_id": 1, **rig.updates.message(VICTIM_CHAT, VICTIM, "forged")}
        update = {"update_id": 2, **rig.updates.message(VICTIM_CHAT, VICTIM, "/start")}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with http.post(url, json=forged, headers=headers) as response:
                    assert response.status == 403
            good = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url, json=update, headers=good) as response:
                assert response.status == 200
        # Updates reach the core in order: a forged one wrongly accepted would come first.
        await rig.settle(1)
        assert [(e.kind, e.text) for e in rig.inbound] == [(InboundKind.COMMAND, "/start")]
        assert fake.texts(VICTIM["id"]), "the genuine update was answered"


async def test_each_start_registers_a_fresh_webhook_secret_and_the_old_one_is_refused(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    registered: list[str] = []
    for start in range(2):
        port = free_port()
        options = {
            "mode": "webhook",
            "webhook_listen": f"127.0.0.1:{port}",
            "webhook_url": "https://haven.example.org/telegram/hook",
        }
        async with running(tmp_path, fake, **options) as rig:
            registered.append(str(fake.webhook["secret_token"]))
            if start == 0:
                continue
            url = f"http://127.0.0.1:{port}/telegram/hook"
            update = {"update_id": 1, **rig.updates.message(VICTIM_CHAT, VICTIM, "/start")}
            old = {"X-Telegram-Bot-Api-Secret-Token": registered[0]}
            async with (
                aiohttp.ClientSession() as http,
                http.post(url, json=update, headers=old) as response,
            ):
                assert response.status == 403, "the last run's secret is worthless now"
    first, second = registered
    assert len(first) >= 32 and len(second) >= 32
    assert first != second, "Telegram was handed the same secret at both starts"


def webhook_options() -> dict[str, Any]:
    return {
        "mode": "webhook",
        "webhook_listen": f"127.0.0.1:{free_port()}",
        "webhook_url": "https://haven.example.org/telegram/hook",
    }


def hook_url(options: dict[str, Any]) -> str:
    return f"http://{options['webhook_listen']}/telegram/hook"


async def stored_rows(haven: Haven) -> dict[str, int]:
    """Rows an update taken in would have written."""
    tables = {"message_log": message_log, "evidence_items": evidence_items, "cases": cases}
    async with haven.db.transaction() as conn:
        counts = {
            name: int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
            for name, table in tables.items()
        }
        counts["intake_journal"] = await intake_journal.count(conn)
    return counts


async def test_a_forged_webhook_request_is_refused_in_one_log_line_and_nothing_is_stored(
    tmp_path: Path, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    options = webhook_options()
    fake.add_file("forged-doc", b"planted bytes")
    forged_text = "forged caption 5f1c"
    fake.webhook_targets = [hook_url(options)]
    async with running(tmp_path, fake, **options) as rig:
        update = rig.updates.document(
            VICTIM_CHAT, VICTIM, "forged-doc", "planted.pdf", 13, caption=forged_text
        )
        body = {"update_id": 77, **update}
        with caplog.at_level(logging.INFO):
            async with aiohttp.ClientSession() as http:
                for secret in ("", "x" * 43, rig.adapter.webhook_secret[:-1] + "?"):
                    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
                    async with http.post(hook_url(options), json=body, headers=headers) as answer:
                        assert answer.status == 403
            # A genuine update after them: had a forged one been queued, it came first.
            await fake.deliver(rig.updates.message(tu.private_chat(OTHER), OTHER, "/help"))
            await rig.settle(1)
        assert [e.chat.chat_id for e in rig.inbound] == [str(OTHER["id"])]
        assert await stored_rows(rig.haven) == {
            "message_log": 1,  # the genuine /help, which opened a case
            "evidence_items": 0,
            "cases": 1,
            "intake_journal": 0,
        }
    assert fake.requests("getFile") == []
    refusals = [r.getMessage() for r in caplog.records if "secret token" in r.getMessage()]
    assert len(refusals) == 3, "one line per forged request"
    assert all("\n" not in line and forged_text not in line for line in refusals)
    assert forged_text not in caplog.text and "planted" not in caplog.text


async def test_an_oversized_or_malformed_webhook_body_gets_400_and_the_bot_still_serves(
    tmp_path: Path, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    options = webhook_options()
    fake.webhook_targets = [hook_url(options)]
    async with running(tmp_path, fake, **options) as rig:
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": rig.adapter.webhook_secret,
            "Content-Type": "application/json",
        }
        oversized = {
            "update_id": 5,
            **rig.updates.message(VICTIM_CHAT, VICTIM, "/start"),
            "padding": "x" * (2 * 1024 * 1024),
        }
        bodies = [
            json.dumps(oversized).encode(),
            b'{"update_id": 6, "message": ',
            b"\xff\xfe not even text",
            b"[1, 2, 3]",
            json.dumps({"message": {"text": "no update id"}}).encode(),
            json.dumps({"update_id": 7, "message": {"chat": "not an object"}}).encode(),
        ]
        with caplog.at_level(logging.INFO):
            async with aiohttp.ClientSession() as http:
                for body in bodies:
                    async with http.post(hook_url(options), data=body, headers=headers) as answer:
                        assert answer.status == 400, body[:40]
            await fake.deliver(rig.updates.message(tu.private_chat(OTHER), OTHER, "/help"))
            await rig.settle(1)
        assert [e.chat.chat_id for e in rig.inbound] == [str(OTHER["id"])]
        assert fake.texts(OTHER["id"]), "the bot still serves"
        assert fake.texts(VICTIM["id"]) == []
    assert "xxxxxxxx" not in caplog.text, "a refused body is never logged"


async def test_a_webhook_update_not_taken_in_in_time_gets_503_and_is_handled_once(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    options = webhook_options()
    # One event in hand at a time, and the core holds the first: the second cannot be
    # handed over, so its request must not be answered 200.
    changes = {**options, "max_in_flight": 1, "webhook_take_in_seconds": 0.2}
    async with running(tmp_path, fake, **changes) as rig:
        rig.hold = asyncio.Event()
        headers = {"X-Telegram-Bot-Api-Secret-Token": rig.adapter.webhook_secret}
        first = {"update_id": 1, **rig.updates.message(VICTIM_CHAT, VICTIM, "/start")}
        second = {"update_id": 2, **rig.updates.message(tu.private_chat(OTHER), OTHER, "/help")}
        async with aiohttp.ClientSession() as http:

            async def post(update: dict[str, Any]) -> int:
                async with http.post(hook_url(options), json=update, headers=headers) as answer:
                    return answer.status

            assert await post(first) == 200
            assert await post(second) == 503
            assert await post(second) == 503, "Telegram's retry waits for the same update"
            rig.hold.set()
            await rig.settle(2)
            assert await post(second) == 200, "taken in meanwhile: the retry is answered"
            assert await post(first) == 200
        await until_outbox_empty(rig.haven)
        assert [e.chat.chat_id for e in rig.inbound] == [str(VICTIM["id"]), str(OTHER["id"])]


# ---- load and failure -------------------------------------------------------------------


async def test_a_flood_from_one_user_is_kept_in_order_and_warned_once(rig: Rig) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    for n in range(40):
        rig.fake.push(rig.updates.message(VICTIM_CHAT, VICTIM, f"message {n}"))
    other = tu.user(7002, "Lan", language_code="en")
    rig.fake.push(rig.updates.message(tu.private_chat(other), other, "/start"))
    await rig.settle(42)
    texts = [e.text for e in rig.inbound if e.kind is InboundKind.TEXT]
    assert texts == [f"message {n}" for n in range(40)], "every update reached the core in order"
    assert rig.fake.texts(VICTIM["id"]).count(rig.text("ui.flood")) == 1
    assert rig.fake.texts(7002), "another victim is still answered"


async def test_an_outage_loses_nothing(rig: Rig) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    english = next(b for b in rig.fake.last_buttons(VICTIM["id"]) if b.endswith(":lang:en"))
    # Sending fails while updates still come in: first connections are dropped, then the
    # server answers 502. The core goes on deciding; its replies wait in the outbox.
    rig.fake.outage(drop=True, spare={"getUpdates"})
    rig.fake.push(rig.updates.press(VICTIM_CHAT, VICTIM, english))
    rig.fake.push(rig.updates.message(VICTIM_CHAT, VICTIM, "are you there?"))
    await rig.fake.wait_for(lambda: rig.handled >= 3 and len(rig.fake.failed) >= 3)
    rig.fake.outage(status=502, spare={"getUpdates"})
    failed = len(rig.fake.failed)
    await rig.fake.wait_for(lambda: len(rig.fake.failed) > failed + 2)
    during = len(rig.fake.texts(VICTIM["id"]))
    rig.fake.restore()
    await until_outbox_empty(rig.haven)
    queued = await outbox_texts(rig.haven, str(VICTIM["id"]))
    assert len(queued) > during, "replies were decided during the outage"
    assert rig.fake.texts(VICTIM["id"]) == queued, "all delivered, once each, in order"
    assert await dead_letters(rig.haven) == 0


# python-telegram-bot 22 warns about its own RetryAfter constructor reading `retry_after`.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_and_refusals_are_told_to_the_outbox(rig: Rig, fake: FakeBotAPI) -> None:
    message = Outbound(ChatRef("telegram", "7001", ChatKind.PRIVATE), "hello")
    fake.fail("sendMessage", retry_after=7)
    with pytest.raises(DeliveryError) as flood:
        await rig.adapter.send(message)
    assert (flood.value.retry_after, flood.value.permanent) == (7, False)
    fake.fail("sendMessage", status=403)  # the victim blocked the bot
    with pytest.raises(DeliveryError) as blocked:
        await rig.adapter.send(message)
    assert blocked.value.permanent
    assert fake.failed == ["sendMessage", "sendMessage"] and not fake.sent()


async def test_a_5xx_becomes_a_retryable_delivery_error(rig: Rig, fake: FakeBotAPI) -> None:
    message = Outbound(ChatRef("telegram", "7001", ChatKind.PRIVATE), "hello")
    fake.fail("sendMessage", status=500)
    with pytest.raises(DeliveryError):
        await rig.adapter.send(message)
    assert await rig.adapter.send(message)
    assert fake.texts(7001) == ["hello"]


# ---- long texts -------------------------------------------------------------------------


async def test_a_long_text_is_split_on_words_and_resumed_after_a_failure(
    rig: Rig, fake: FakeBotAPI
) -> None:
    words = " ".join(f"word{n}" for n in range(2000))  # about 17,800 characters
    buttons = ((Button("Done", "1:it:x=done"),),)
    message = Outbound(ChatRef("telegram", "7001", ChatKind.PRIVATE), words, buttons)
    fake.fail("sendMessage", status=502, after=1)
    with pytest.raises(DeliveryError):
        await rig.adapter.send(message)
    assert len(fake.sent(chat_id=7001)) == 1
    await rig.adapter.send(message)  # the outbox's retry: only the missing pieces go out
    pieces = [c.params for c in fake.sent(chat_id=7001)]
    assert len(pieces) == 5
    assert " ".join(p["text"] for p in pieces) == words, "no word lost, split or repeated"
    assert all(utf16_length(p["text"]) <= 4096 for p in pieces)
    assert [bool(p.get("reply_markup")) for p in pieces] == [False] * 4 + [True]


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("short", 4096),
        ("para one\n\npara two is longer", 12),
        ("line one\nline two\nline three", 10),
        ("一句话。又一句话。第三句话。", 5),
        ("x" * 25, 10),
        ("😀" * 5, 4),
    ],
)
def test_split_text_keeps_words_and_limits(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(utf16_length(p) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
    assert all(c < "\ud800" or c > "\udfff" for p in pieces for c in p)


def test_split_text_prefers_paragraphs_then_lines_then_spaces() -> None:
    assert split_text("aaa bbb\n\nccc ddd", 12) == ["aaa bbb", "ccc ddd"]
    assert split_text("aaa bbb\nccc ddd", 12) == ["aaa bbb", "ccc ddd"]
    assert split_text("aaa bbb ccc", 8) == ["aaa bbb", "ccc"]


# ---- configuration ----------------------------------------------------------------------


def test_build_adapters_reads_the_telegram_table_and_the_token(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    path = tmp_path / "haven.toml"
    urls = f'api_base_url = "{fake.api_base_url}"\nfile_base_url = "{fake.file_base_url}"\n'
    table = f"staff_chat_ids = [{STAFF_GROUP}]\n"
    text = CONFIG.replace(table, table + urls + "max_download_bytes = 2000000000\n")
    path.write_text(text, encoding="utf-8")
    config = load_config(path, environ={"HAVEN_TELEGRAM_TOKEN": fake.token})
    adapter = build_adapters(config)["telegram"]
    assert isinstance(adapter, TelegramAdapter)
    options = telegram_options(config)
    assert options == adapter.options
    assert options.staff_chat_ids == frozenset({STAFF_GROUP})
    assert options.max_download_bytes == 2_000_000_000
    assert (options.rate_global_per_second, options.rate_per_group_per_minute) == (1e5, 1e5)
    assert options.group_notice.startswith("Hi, I'm Haven.")  # default_locale "en" first
    assert fake.token not in repr(options)


async def test_a_rejected_token_stops_start_up_with_one_line(fake: FakeBotAPI) -> None:
    adapter = TelegramAdapter(options_for(fake, token="999:wrong"))

    async def core(_event: Inbound) -> None:
        raise AssertionError("nothing may arrive")

    with pytest.raises(AdapterStartError, match="telegram: cannot start"):
        await adapter.start(core)


async def test_a_file_and_an_edit_are_sent(rig: Rig, fake: FakeBotAPI, tmp_path: Path) -> None:
    export = tmp_path / "bundle.zip"
    export.write_bytes(b"PK\x05\x06" + bytes(18))
    chat = ChatRef("telegram", "7001", ChatKind.PRIVATE)
    file = OutboundFile(str(export), "haven-case-1.zip", "application/zip")
    sent_id = await rig.adapter.send(Outbound(chat, "Your export", file=file))
    [document] = fake.sent("sendDocument")
    assert document.params["caption"] == "Your export"
    assert document.params["document"] == {
        "filename": "haven-case-1.zip",
        "size": 22,
        "sha256": hashlib.sha256(export.read_bytes()).hexdigest(),
        "content_type": "application/zip",
    }
    assert await rig.adapter.send(Outbound(chat, "Updated", edit_of=sent_id)) == sent_id
    [edit] = fake.sent("editMessageText")
    assert (edit.params["message_id"], edit.params["text"]) == (sent_id, "Updated")


async def test_export_reaches_the_victim_as_a_document(rig: Rig, fake: FakeBotAPI) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    leaker = tu.user(555, "Wang")
    when = int(datetime(2025, 11, 3, 14, 30, tzinfo=UTC).timestamp())
    origin = tu.origin_user(leaker, when)
    await rig.exchange(rig.updates.forward(VICTIM_CHAT, VICTIM, origin, text="her chats"))
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/export"))
    [document] = fake.sent("sendDocument")
    assert document.params["chat_id"] == str(VICTIM["id"])
    assert document.params["document"]["filename"] == "haven-case-1-evidence.zip"
    assert document.params["document"]["size"] > 0
    assert "📦" in document.params["caption"]
    # Telegram holds the victim's copy now: Haven's plaintext one is gone.
    await rig.haven.sender.settle()
    exports = rig.haven.config.data_dir / EXPORTS_DIR
    assert await asyncio.to_thread(lambda: list(exports.iterdir())) == []


async def test_timeline_and_search_over_telegram_use_the_forward_dates(rig: Rig) -> None:
    """Forwarded out of order through the real library: /timeline puts them in order,
    /search finds by sender and keyword, traditional characters included."""
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    later = int(datetime(2025, 11, 3, 6, 30, tzinfo=UTC).timestamp())
    earlier = int(datetime(2025, 11, 1, 1, 0, tzinfo=UTC).timestamp())
    wang, li = tu.user(555, "Wang"), tu.user(556, "Li")
    await rig.exchange(
        rig.updates.forward(VICTIM_CHAT, VICTIM, tu.origin_user(wang, later), text="截圖在群裡")
    )
    await rig.exchange(
        rig.updates.forward(VICTIM_CHAT, VICTIM, tu.origin_user(li, earlier), text="pay or else")
    )
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/memo 2025-11-02 20:00 报警了"))
    (timeline,) = await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/timeline"))
    markers = ("Evidence #2: message from Li", "Your note #1", "Evidence #1: message from Wang")
    first, second, third = (timeline.index(f" · {marker}") for marker in markers)
    assert first < second < third
    (found,) = await rig.exchange(
        rig.updates.message(VICTIM_CHAT, VICTIM, "/search 截图 from:wang")
    )
    assert "#1 · 2025-11-03 14:30" in found and "#2" not in found
