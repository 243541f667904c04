"""The Slack adapter: the real slack-bolt AsyncApp (and slack_sdk's AsyncWebClient) and the
real Haven core, against the fake Slack Web API in tests/fakes on 127.0.0.1. Requests come
in through the adapter's own HTTP endpoint, signed as Slack signs them. Nothing of
slack-bolt is mocked; what the core receives is recorded by wrapping its handler."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.slack import SlackAdapter, SlackOptions
from bot.adapter import AdapterStartError, DeliveryError, FileTooLarge
from bot.clock import ManualClock, SystemClock
from bot.config import ConfigError, load_config
from bot.content.prompts import Reply
from bot.delivery.outbox import payload_of
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
from bot.runtime import Haven, build_adapters, slack_options
from storage import intake_journal, outbox, schema
from tests.chat_rig import (
    TRIAGE,
    dead_letters,
    outbox_texts,
    retry_quickly,
    serving,
    until_outbox_empty,
)
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlackAPI
from tests.fakes.slack_events import Request, Traffic

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

STAFF = "CSTAFF001"
VICTIM = "U0VICTIM1"
DM = "D0VICTIM1"  # the direct-message channel Slack names for the victim and the bot
OPERATOR = "U0OPERAT1"
ENV = {"HAVEN_SLACK_BOT_TOKEN": BOT_TOKEN, "HAVEN_SLACK_SIGNING_SECRET": SIGNING_SECRET}

CONFIG = f"""
default_locale = "en"

[support]
hotlines = [{{ name = "Test support line", number = "000-TEST", hours = "24h" }}]

[limits]
flood_messages = 10
max_item_bytes = 1000000

[adapters]
enabled = ["slack"]

[adapters.slack]
staff_channels = ["{STAFF}"]
# Slack's pacing is the outbox's job, tested there; here it would only slow tests.
rate_per_channel_per_second = 100000

[[escalation.levels]]
channels = ["slack:{STAFF}"]

[[staff]]
platform = "slack"
user_id = "{OPERATOR}"
role = "operator"
name = "Olu"
"""


@dataclass
class Rig:
    """A running Haven with the Slack adapter, and what its core was handed."""

    fake: FakeSlackAPI
    haven: Haven
    adapter: SlackAdapter
    http: aiohttp.ClientSession
    traffic: Traffic = field(default_factory=Traffic)
    inbound: list[Inbound] = field(default_factory=list)
    handled: int = 0

    async def core(self, event: Inbound) -> None:
        self.inbound.append(event)
        try:
            await self.haven.dispatcher.handle(event)
        finally:
            self.handled += 1
            self.fake.notify()  # wakes wait_for: the core's progress is an event too

    async def post(self, request: Request, **signing: Any) -> int:
        """Post a request to the adapter's endpoint as Slack would; return the status."""
        headers = self.fake.signed(request.body, content_type=request.content_type, **signing)
        url = f"http://127.0.0.1:{self.adapter.port}/slack/events"
        async with self.http.post(url, data=request.body.encode(), headers=headers) as response:
            return response.status

    async def settle(self, events: int) -> None:
        """Until the core has handled `events` in all and the outbox is empty."""
        await self.fake.wait_for(lambda: self.handled >= events)
        await until_outbox_empty(self.haven)

    async def exchange(self, request: Request, **signing: Any) -> list[str]:
        """Send one request from the victim; return the texts the bot answered with."""
        before, handled = len(self.fake.texts(DM)), self.handled
        assert await self.post(request, **signing) == 200
        await self.settle(handled + 1)
        return self.fake.texts(DM)[before:]

    async def say(self, text: str) -> list[str]:
        return await self.exchange(self.traffic.callback(self.traffic.message(DM, VICTIM, text)))

    async def press(self, key: str) -> list[str]:
        buttons = self.fake.last_buttons(DM)
        data = next(b for b in buttons if b.split(":", 2)[-1] == key or b.endswith(":" + key))
        return await self.exchange(self.traffic.press(DM, VICTIM, data))

    def text(self, key: str, **fields: object) -> str:
        return self.haven.playbook.texts.get("en", key, **fields)


def options_for(fake: FakeSlackAPI, **changes: Any) -> SlackOptions:
    options = SlackOptions(
        bot_token=fake.bot_token,
        signing_secret=fake.signing_secret,
        app_token=fake.app_token,
        listen="127.0.0.1:0",
        api_base_url=fake.base_url,
        staff_channels=frozenset({STAFF}),
        max_download_bytes=1_000_000,
        group_notice="Haven only helps in direct messages.",
    )
    return dataclasses.replace(options, **changes)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackAPI]:
    api = FakeSlackAPI()
    await api.start()
    api.add_user(VICTIM, "Mei", locale="zh-CN")
    api.add_user(OPERATOR, "Olu")
    yield api
    await api.close()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, fake: FakeSlackAPI, **changes: Any) -> AsyncIterator[Rig]:
    path = tmp_path / "haven.toml"
    path.write_text(CONFIG, encoding="utf-8")
    config = load_config(path, data_dir_override=tmp_path / "data", environ=ENV)
    adapter = SlackAdapter(options_for(fake, **changes))
    haven = await Haven.open(config, {adapter.platform: adapter}, SystemClock())
    retry_quickly(haven)
    async with aiohttp.ClientSession() as http:
        rig = Rig(fake, haven, adapter, http)
        async with serving(haven, adapter, rig.core):
            yield rig


@pytest.fixture
async def rig(tmp_path: Path, fake: FakeSlackAPI) -> AsyncIterator[Rig]:
    async with running(tmp_path, fake) as started:
        yield started


async def evidence_count(haven: Haven) -> int:
    async with haven.db.transaction() as conn:
        query = select(func.count()).select_from(schema.evidence_items)
        return int((await conn.execute(query)).scalar_one())


# ---- the journey in a direct message ---------------------------------------------------


async def test_full_journey_in_a_direct_message(rig: Rig) -> None:
    first = await rig.say("hello, my chats were leaked")
    assert first, "the bot answered the first message"
    for key in TRIAGE:
        await rig.press(key)
    transcript = "\n".join(rig.fake.texts(DM))
    assert rig.text("item.forward_evidence.title") in transcript
    presses = [e for e in rig.inbound if e.kind is InboundKind.BUTTON]
    assert len(presses) == len(TRIAGE)
    assert {e.chat for e in presses} == {ChatRef("slack", DM, ChatKind.PRIVATE)}
    assert {e.identity.user_id for e in rig.inbound} == {VICTIM}
    assert rig.inbound[0].identity.display_name == "Mei"
    assert rig.inbound[0].locale_hint == "zh-CN"
    assert len(rig.fake.requests("users.info")) == 1, "a person is looked up once"
    # Every message went out as Block Kit: plain-text sections, buttons carrying the data.
    posted = rig.fake.sent(channel=DM)
    assert all(b["type"] in ("section", "actions") for c in posted for b in c.params["blocks"])


async def test_the_slash_command_in_a_direct_message(rig: Rig) -> None:
    replies = await rig.exchange(rig.traffic.command(DM, VICTIM, "status"))
    assert replies, "the reply reached the victim's direct message"
    event = rig.inbound[0]
    assert (event.kind, event.command, event.args) == (InboundKind.COMMAND, "status", "")
    assert event.chat == ChatRef("slack", DM, ChatKind.PRIVATE)
    assert [c.params["users"] for c in rig.fake.sent("conversations.open")] == [VICTIM]


# ---- evidence ---------------------------------------------------------------------------


def leaked_share(rig: Rig, comment: str = "") -> dict[str, Any]:
    """Wang Lei's message from #hotel-staff, shared into the victim's direct message."""
    return rig.traffic.shared(
        DM,
        VICTIM,
        author="U0LEAKER1",
        author_name="Wang Lei",
        origin="hotel-staff",
        text="look what she wrote to him",
        comment=comment,
    )


async def test_a_shared_message_keeps_its_author_channel_permalink_and_time(rig: Rig) -> None:
    shared = leaked_share(rig)
    replies = await rig.exchange(rig.traffic.callback(shared))
    assert replies, "the victim got an answer (a receipt)"
    event = rig.inbound[0]
    assert event.kind is InboundKind.FORWARD
    assert event.text == "look what she wrote to him"
    origin = event.forward_origin
    assert origin is not None
    assert (origin.kind, origin.sender_id, origin.sender_name) == (
        OriginKind.USER,
        "U0LEAKER1",
        "Wang Lei",
    )
    assert origin.chat_title == "#hotel-staff"
    assert origin.original_message_id == "1762180200.000200"
    assert origin.original_date == datetime.fromtimestamp(1762180200.0002, UTC)
    assert origin.permalink.endswith("/archives/CORIGIN01/p1762180200000200")
    assert await evidence_count(rig.haven) == 1


async def test_a_comment_on_a_share_is_the_persons_own_message_before_it(rig: Rig) -> None:
    shared = leaked_share(rig, "he posted this for everyone. I don't want to live anymore")
    assert await rig.post(rig.traffic.callback(shared)) == 200
    await rig.settle(2)
    comment, share = rig.inbound
    assert (comment.kind, comment.text) == (InboundKind.TEXT, shared["text"])
    assert (share.kind, share.text) == (InboundKind.FORWARD, "look what she wrote to him")
    assert comment.message_id != share.message_id
    transcript = "\n".join(rig.fake.texts(DM))
    assert rig.text("signal.self_harm.reply") in transcript, "the comment was read"
    assert await evidence_count(rig.haven) == 1, "the share is the evidence"

    changed = rig.traffic.edited(shared, "he posted this for everyone, in #general")
    await rig.exchange(rig.traffic.callback(changed))
    edit = rig.inbound[-1]
    assert edit.edited_message_id == comment.message_id, "an edit changes the comment"
    assert await evidence_count(rig.haven) == 1, "not the shared evidence"


async def test_a_file_is_downloaded_with_the_bot_token_and_kept(rig: Rig) -> None:
    rig.fake.add_file("F0SCREEN1", "screenshot.png", b"\x89PNG screenshot bytes")
    upload = rig.traffic.file_share(DM, VICTIM, rig.fake.file_object("F0SCREEN1"), "from the group")
    replies = await rig.exchange(rig.traffic.callback(upload))
    assert replies
    event = rig.inbound[0]
    assert event.kind is InboundKind.ATTACHMENT
    [attachment] = event.attachments
    assert (attachment.kind, attachment.file_name, attachment.mime_type) == (
        "photo",
        "screenshot.png",
        "image/png",
    )
    assert [c.params["file"] for c in rig.fake.sent("files.info")] == ["F0SCREEN1"]
    assert [c.params["file"] for c in rig.fake.sent("download")] == ["F0SCREEN1"]
    assert await evidence_count(rig.haven) == 2, "the caption and the file"


async def test_a_file_is_journaled_before_slack_gets_its_answer_and_resumed_after_a_stop(
    tmp_path: Path, fake: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.add_file("F0SCREEN2", "threat.png", b"\x89PNG the threat")
    traffic = Traffic()
    upload = traffic.callback(
        traffic.file_share(DM, VICTIM, fake.file_object("F0SCREEN2"), "he sent this")
    )
    entered, release = asyncio.Event(), asyncio.Event()
    async with running(tmp_path, fake) as rig:
        keep = rig.haven.journal.keep

        async def slow_journal(inbound: Inbound) -> None:
            entered.set()
            await release.wait()
            await keep(inbound)

        async def lost_in_a_crash(_event: Inbound) -> None:
            """The process dies once Slack has its answer: the core never sees it."""

        rig.adapter.use_journal(slow_journal)
        monkeypatch.setattr(rig.haven.dispatcher, "handle", lost_in_a_crash)
        answer = asyncio.ensure_future(rig.post(upload))
        await entered.wait()
        done, _ = await asyncio.wait([answer], timeout=0.5)
        assert not done, "Slack was answered before the event was journaled"
        release.set()
        assert await answer == 200
        assert await journal_count(rig.haven) == 1 and await evidence_count(rig.haven) == 0
    async with running(tmp_path, fake) as rig:
        waiting = await rig.haven.journal.waiting("slack", rig.adapter.fetch_file)
        assert [e.kind for e in waiting] == [InboundKind.ATTACHMENT]
        for event in waiting:
            await rig.haven.dispatcher.handle(event)
        assert await evidence_count(rig.haven) == 2, "the caption and the file"
        assert await journal_count(rig.haven) == 0


async def journal_count(haven: Haven) -> int:
    async with haven.db.transaction() as conn:
        return await intake_journal.count(conn)


async def test_an_oversized_file_is_refused_without_downloading(rig: Rig) -> None:
    rig.fake.add_file("F0BIG0001", "chat.pdf", b"x", size=5_000_000)
    rig.fake.add_file("F0LIES001", "small.pdf", b"y" * 2_000_000)
    big = rig.traffic.file_share(DM, VICTIM, rig.fake.file_object("F0BIG0001"))
    lying = rig.fake.file_object("F0LIES001") | {"size": 1000}  # the event understates it
    await rig.exchange(rig.traffic.callback(big))
    await rig.exchange(rig.traffic.callback(rig.traffic.file_share(DM, VICTIM, lying)))
    assert len(rig.fake.texts(DM)) >= 2, "both were answered"
    assert await evidence_count(rig.haven) == 0
    assert not rig.fake.sent("download"), "nothing over the limit was downloaded"
    big_handle, lying_handle = (e.attachments[0] for e in rig.inbound)
    with pytest.raises(FileTooLarge):
        await big_handle.fetch()
    with pytest.raises(FileTooLarge):
        await lying_handle.fetch()  # files.info tells the truth: refused before downloading


async def test_edits_and_deletions_are_new_linked_events(rig: Rig) -> None:
    original = rig.traffic.message(DM, VICTIM, "he sent it at 9")
    await rig.exchange(rig.traffic.callback(original))
    await rig.exchange(rig.traffic.callback(rig.traffic.edited(original, "he sent it at 10")))
    await rig.exchange(rig.traffic.callback(rig.traffic.deleted(original)))
    first, edit, deletion = rig.inbound
    assert (edit.kind, edit.edited_message_id, edit.text) == (
        InboundKind.EDIT,
        first.message_id,
        "he sent it at 10",
    )
    assert edit.message_id != first.message_id, "the edit must not look like a redelivery"
    assert (deletion.kind, deletion.edited_message_id) == (InboundKind.DELETE, original["ts"])
    assert deletion.identity.user_id == VICTIM


async def test_a_link_preview_is_not_an_edit(rig: Rig) -> None:
    original = rig.traffic.message(DM, VICTIM, "see https://example.org/x")
    unfurled = rig.traffic.edited(original, original["text"])
    del unfurled["message"]["edited"]
    await rig.exchange(rig.traffic.callback(original))
    assert await rig.post(rig.traffic.callback(unfurled)) == 200
    await rig.say("barrier")
    assert [e.kind for e in rig.inbound] == [InboundKind.TEXT, InboundKind.TEXT]


# ---- security and retries ---------------------------------------------------------------


async def test_forged_and_replayed_requests_get_401_and_nothing_is_processed(rig: Rig) -> None:
    forged = rig.traffic.callback(rig.traffic.message(DM, VICTIM, "forged"))
    replayed = rig.traffic.callback(rig.traffic.message(DM, VICTIM, "replayed"))
    assert await rig.post(forged, secret="not-the-secret") == 401
    assert await rig.post(replayed, at=time.time() - 6 * 60) == 401  # older than 5 minutes
    press = rig.traffic.press(DM, VICTIM, "1:lang:en")
    assert await rig.post(press, secret="not-the-secret") == 401
    # Events of one chat reach the core in order: one wrongly accepted would come first.
    await rig.exchange(rig.traffic.callback(rig.traffic.message(DM, VICTIM, "hello")))
    assert [(e.kind, e.text) for e in rig.inbound] == [(InboundKind.TEXT, "hello")]


async def test_a_refused_request_is_logged_in_one_line_without_its_body(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    secret_words = "my landlord has the photos 4711"
    forged = rig.traffic.callback(rig.traffic.message(DM, VICTIM, secret_words))
    stale = rig.traffic.callback(rig.traffic.message(DM, VICTIM, secret_words + " again"))
    with caplog.at_level(logging.INFO):
        assert await rig.post(forged, secret="not-the-secret") == 401
        assert await rig.post(stale, at=time.time() - 6 * 60) == 401
    logged = [r.getMessage() for r in caplog.records]
    assert not [line for line in logged if "landlord" in line or "4711" in line], logged
    refusals = [line for line in logged if "refused a request" in line]
    assert len(refusals) == 2 and all("\n" not in line for line in refusals)


async def test_a_slack_retry_creates_no_duplicate_evidence_or_reply(rig: Rig) -> None:
    await rig.say("hello")
    shared = rig.traffic.callback(
        rig.traffic.shared(
            DM, VICTIM, author="U0LEAKER1", author_name="Wang", origin="gossip", text="leak"
        )
    )
    replies = await rig.exchange(shared)
    for attempt in (1, 2):
        assert await rig.post(shared, retry=attempt) == 200
    await rig.say("barrier")
    assert await evidence_count(rig.haven) == 1
    forwards = [e for e in rig.inbound if e.kind is InboundKind.FORWARD]
    assert len(forwards) == 1, "the retries never reached the core"
    assert sum(replies[0] == t for t in rig.fake.texts(DM)) == 1


async def test_a_redelivery_after_a_restart_is_recognised(
    tmp_path: Path, fake: FakeSlackAPI
) -> None:
    traffic = Traffic()
    shared = traffic.callback(
        traffic.shared(DM, VICTIM, author="U0LEAKER1", author_name="Wang", origin="g", text="leak")
    )
    async with running(tmp_path, fake) as rig:
        rig.traffic = traffic
        await rig.exchange(shared)
        answered = len(fake.texts(DM))
        assert await evidence_count(rig.haven) == 1
    # A new process remembers no event ids: the core's message log recognises the ts.
    async with running(tmp_path, fake) as rig:
        assert await rig.post(shared, retry=3) == 200
        await rig.settle(1)
        assert await evidence_count(rig.haven) == 1
        assert len(fake.texts(DM)) == answered, "no second receipt"


# ---- the staff channel ------------------------------------------------------------------


async def test_a_staff_acknowledgement_reaches_the_core_and_updates_the_alert(rig: Rig) -> None:
    alert = Outbound(
        ChatRef("slack", STAFF, ChatKind.STAFF),
        "Case #7 needs attention",
        ((Button("Acknowledge", "ack:7"),),),
    )
    alert_id = await rig.adapter.send(alert)
    assert alert_id.startswith(f"{STAFF}:")
    ts = alert_id.split(":", 1)[1]
    assert await rig.post(rig.traffic.press(STAFF, OPERATOR, "ack:7", message_ts=ts)) == 200
    await rig.fake.wait_for(lambda: rig.handled >= 1)
    press = rig.inbound[0]
    assert (press.kind, press.button_data) == (InboundKind.BUTTON, "ack:7")
    assert press.chat == ChatRef("slack", STAFF, ChatKind.STAFF)
    assert (press.identity.user_id, press.identity.display_name) == (OPERATOR, "Olu")
    updated = Outbound(alert.chat, "Case #7 — acknowledged by Olu", edit_of=alert_id)
    assert await rig.adapter.send(updated) == alert_id
    [update] = rig.fake.sent("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (STAFF, ts)
    assert rig.fake.messages[(STAFF, ts)]["text"] == "Case #7 — acknowledged by Olu"
    assert not [b for b in update.params["blocks"] if b["type"] == "actions"], "buttons gone"


async def test_an_alert_acknowledged_in_slack_is_updated_in_place_and_the_victim_told(
    rig: Rig,
) -> None:
    await rig.say("hello")
    for key in ("lang:en", "ok:", "safety=no", "extortion=yes"):
        await rig.press(key)
    [ts] = [ts for channel, ts in rig.fake.messages if channel == STAFF]
    ack = next(value for value in rig.fake.last_buttons(STAFF) if ":ack:" in value)
    handled = rig.handled
    assert await rig.post(rig.traffic.press(STAFF, OPERATOR, ack, message_ts=ts)) == 200
    await rig.settle(handled + 1)
    [update] = rig.fake.sent("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (STAFF, ts)
    assert "Olu" in rig.fake.messages[(STAFF, ts)]["text"]
    assert rig.text("ui.staff_on_it") in "\n".join(rig.fake.texts(DM))


async def test_staff_channel_messages_and_commands_are_staff_events(rig: Rig) -> None:
    assert await rig.post(rig.traffic.command(STAFF, OPERATOR, "status 12")) == 200
    message = rig.traffic.message(STAFF, OPERATOR, "who has case 12?")
    assert await rig.post(rig.traffic.callback(message)) == 200
    await rig.fake.wait_for(lambda: rig.handled >= 2)
    command, text = rig.inbound
    assert (command.kind, command.command, command.args) == (InboundKind.COMMAND, "status", "12")
    assert {command.chat, text.chat} == {ChatRef("slack", STAFF, ChatKind.STAFF)}
    assert text.kind is InboundKind.TEXT and text.identity.user_id == OPERATOR


async def test_other_channels_are_not_read(rig: Rig) -> None:
    message = rig.traffic.message("C0RANDOM1", VICTIM, "my chats leaked")
    assert await rig.post(rig.traffic.callback(message)) == 200
    command = rig.traffic.command("C0RANDOM1", VICTIM, "start", channel_name="general")
    headers = rig.fake.signed(command.body, content_type=command.content_type)
    url = f"http://127.0.0.1:{rig.adapter.port}/slack/events"
    async with rig.http.post(url, data=command.body.encode(), headers=headers) as response:
        assert response.status == 200
        assert "direct messages" in await response.text(), "told privately where to go"
    await rig.say("barrier")
    assert [e.chat.chat_id for e in rig.inbound] == [DM]


# ---- failures ---------------------------------------------------------------------------


async def test_an_outage_with_429_and_5xx_loses_nothing(rig: Rig) -> None:
    await rig.say("hello")
    english = next(b for b in rig.fake.last_buttons(DM) if b.endswith(":lang:en"))
    # Sending fails while requests still come in: dropped connections, then 429 with
    # Retry-After, then 502. The core goes on deciding; its replies wait in the outbox.
    rig.fake.outage(drop=True)
    assert await rig.post(rig.traffic.press(DM, VICTIM, english)) == 200
    assert await rig.post(rig.traffic.callback(rig.traffic.message(DM, VICTIM, "are you there?")))
    await rig.fake.wait_for(lambda: rig.handled >= 3 and len(rig.fake.failed) >= 3)
    rig.fake.restore()
    rig.fake.fail("chat.postMessage", retry_after=1, count=1)
    rig.fake.outage(status=502)
    failed = len(rig.fake.failed)
    await rig.fake.wait_for(lambda: len(rig.fake.failed) > failed + 2)
    during = len(rig.fake.texts(DM))
    rig.fake.restore()
    await until_outbox_empty(rig.haven)
    queued = await outbox_texts(rig.haven, DM)
    assert len(queued) > during, "replies were decided during the outage"
    assert rig.fake.texts(DM) == queued, "all delivered, once each, in order"
    assert {0, 429, 502} <= set(rig.fake.failed_with), "every kind of failure happened"
    assert await dead_letters(rig.haven) == 0


async def test_retry_after_and_refusals_are_told_to_the_outbox(rig: Rig) -> None:
    message = Outbound(ChatRef("slack", DM, ChatKind.PRIVATE), "hello")
    rig.fake.fail("chat.postMessage", retry_after=7)
    with pytest.raises(DeliveryError) as limited:
        await rig.adapter.send(message)
    assert (limited.value.retry_after, limited.value.permanent) == (7, False)
    rig.fake.fail("chat.postMessage", status=503)
    with pytest.raises(DeliveryError) as unavailable:
        await rig.adapter.send(message)
    assert (unavailable.value.retry_after, unavailable.value.permanent) == (None, False)
    rig.fake.gone_channels.add(DM)
    with pytest.raises(DeliveryError) as gone:
        await rig.adapter.send(message)
    assert gone.value.permanent
    assert not rig.fake.sent()


# ---- outbound -----------------------------------------------------------------------------


async def test_a_long_text_is_split_and_resumed_after_a_failure(rig: Rig) -> None:
    words = " ".join(f"word{n}" for n in range(8000))  # about 70,000 characters
    buttons = ((Button("Done", "1:it:x=done"),),)
    message = Outbound(ChatRef("slack", DM, ChatKind.PRIVATE), words, buttons)
    rig.fake.fail("chat.postMessage", status=502, after=1)
    with pytest.raises(DeliveryError):
        await rig.adapter.send(message)
    assert len(rig.fake.sent(channel=DM)) == 1
    await rig.adapter.send(message)  # the outbox's retry: only the missing pieces go out
    posted = rig.fake.sent(channel=DM)
    assert len(posted) == 2
    sections = [b["text"]["text"] for c in posted for b in c.params["blocks"] if "text" in b]
    assert " ".join(sections) == words, "no word lost, split or repeated"
    assert [bool(rig.fake.last_buttons(DM))] == [True]
    assert not [b for b in posted[0].params["blocks"] if b["type"] == "actions"]


async def test_a_person_is_written_to_in_their_direct_message(rig: Rig) -> None:
    sent = await rig.adapter.send(Outbound(ChatRef("slack", VICTIM, ChatKind.PRIVATE), "hi"))
    assert sent.startswith(f"{DM}:")
    assert rig.fake.texts(DM) == ["hi"]


async def test_an_export_is_uploaded_with_the_current_upload_flow(rig: Rig, tmp_path: Path) -> None:
    export = tmp_path / "bundle.zip"
    export.write_bytes(b"PK\x05\x06" + bytes(18))
    chat = ChatRef("slack", DM, ChatKind.PRIVATE)
    file = OutboundFile(str(export), "haven-case-1.zip", "application/zip")
    sent_id = await rig.adapter.send(Outbound(chat, "Your export", file=file))
    [upload] = rig.fake.uploads.values()
    assert upload["data"] == export.read_bytes()
    assert (upload["filename"], upload["channel"], upload["comment"]) == (
        "haven-case-1.zip",
        DM,
        "Your export",
    )
    assert sent_id.startswith(f"{DM}:file:")


# ---- configuration ----------------------------------------------------------------------


def test_build_adapters_reads_the_slack_table_and_the_secrets(
    tmp_path: Path, fake: FakeSlackAPI
) -> None:
    path = tmp_path / "haven.toml"
    path.write_text(
        CONFIG.replace("[adapters.slack]", f'[adapters.slack]\napi_base_url = "{fake.base_url}"'),
        encoding="utf-8",
    )
    config = load_config(path, environ=ENV)
    adapter = build_adapters(config)["slack"]
    assert isinstance(adapter, SlackAdapter)
    options = slack_options(config)
    assert options == adapter.options
    assert (options.mode, options.listen, options.api_base_url) == (
        "http",
        "127.0.0.1:3000",
        fake.base_url,
    )
    assert options.staff_channels == frozenset({STAFF})
    assert options.max_download_bytes == 1_000_000
    assert BOT_TOKEN not in repr(options) and SIGNING_SECRET not in repr(options)


@pytest.mark.parametrize(
    ("mode", "environ", "missing"),
    [
        ("http", {"HAVEN_SLACK_BOT_TOKEN": BOT_TOKEN}, "HAVEN_SLACK_SIGNING_SECRET"),
        ("http", {"HAVEN_SLACK_SIGNING_SECRET": "s"}, "HAVEN_SLACK_BOT_TOKEN"),
        ("socket", {"HAVEN_SLACK_BOT_TOKEN": BOT_TOKEN}, "HAVEN_SLACK_APP_TOKEN"),
    ],
)
def test_a_missing_secret_is_named_in_one_line(
    tmp_path: Path, mode: str, environ: dict[str, str], missing: str
) -> None:
    path = tmp_path / "haven.toml"
    path.write_text(CONFIG.replace("[adapters.slack]", f'[adapters.slack]\nmode = "{mode}"'))
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ=environ)
    assert missing in str(refused.value) and "\n" not in str(refused.value)


async def test_a_rejected_token_stops_start_up_with_one_line(fake: FakeSlackAPI) -> None:
    adapter = SlackAdapter(options_for(fake, bot_token="xoxb-wrong"))

    async def core(_event: Inbound) -> None:
        raise AssertionError("nothing may arrive")

    with pytest.raises(AdapterStartError, match="slack: cannot start: invalid_auth"):
        await adapter.start(core)


# ---- Socket Mode ------------------------------------------------------------------------


async def test_socket_mode_receives_events_presses_and_commands(
    tmp_path: Path, fake: FakeSlackAPI
) -> None:
    async with running(tmp_path, fake, mode="socket", signing_secret="") as rig:
        assert not rig.adapter.port, "no HTTP endpoint in Socket Mode"
        # One call checks the app token at start-up, one opens the connection.
        assert len(fake.sent("apps.connections.open")) == 2
        message = rig.traffic.message(DM, VICTIM, "hello")
        event = json.loads(rig.traffic.callback(message).body)
        envelope = await fake.socket_send("events_api", event)
        await rig.fake.wait_for(lambda: rig.handled >= 1)
        await until_outbox_empty(rig.haven)
        english = next(b for b in fake.last_buttons(DM) if b.endswith(":lang:en"))
        press = rig.traffic.press(DM, VICTIM, english)
        await fake.socket_send("interactive", json.loads(parse_qs(press.body)["payload"][0]))
        command = rig.traffic.command(DM, VICTIM, "help")
        form = {key: values[0] for key, values in parse_qs(command.body).items()}
        await fake.socket_send("slash_commands", form)
        await rig.fake.wait_for(lambda: rig.handled >= 3)
        await fake.socket_send("events_api", event)  # Slack's retry of the first envelope
        await fake.wait_for(lambda: len(fake.socket_acks) >= 4)
    assert [e.kind for e in rig.inbound] == [
        InboundKind.TEXT,
        InboundKind.BUTTON,
        InboundKind.COMMAND,
    ]
    assert envelope in {ack["envelope_id"] for ack in fake.socket_acks}


async def test_malformed_requests_are_refused_cleanly_and_the_bot_keeps_running(
    rig: Rig,
) -> None:
    broken = Request("{not json", "application/json")
    assert 400 <= await rig.post(broken) < 500
    nobody = rig.traffic.message(DM, "", "no author")
    del nobody["user"]
    ours = rig.traffic.message(DM, VICTIM, "our own echo", bot_id="BHAVENBOT")
    joined = rig.traffic.message(DM, VICTIM, "", subtype="channel_join")
    for event in (nobody, ours, joined):
        assert await rig.post(rig.traffic.callback(event)) == 200
    stranger = rig.traffic.press("C0RANDOM1", VICTIM, "1:lang:en")
    assert await rig.post(stranger) == 200
    await rig.say("still there?")
    assert [e.text for e in rig.inbound] == ["still there?"]


async def test_the_outbox_paces_each_channel_at_one_message_per_second(
    tmp_path: Path, fake: FakeSlackAPI
) -> None:
    path = tmp_path / "haven.toml"
    path.write_text(CONFIG.replace("rate_per_channel_per_second = 100000", ""), encoding="utf-8")
    config = load_config(path, data_dir_override=tmp_path / "data", environ=ENV)
    adapter = SlackAdapter(options_for(fake))
    clock = ManualClock()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    await adapter.start(haven.dispatcher.handle)
    try:
        async with haven.db.transaction() as conn:
            for n in range(3):
                for chat in (ChatRef("slack", DM), ChatRef("slack", STAFF, ChatKind.STAFF)):
                    await outbox.enqueue(
                        conn,
                        platform="slack",
                        chat_id=chat.chat_id,
                        payload=payload_of(chat, Reply(f"message {n}")),
                        case_id=None,
                        now=clock.now(),
                    )
        sent = [await haven.sender.drain()]
        clock.advance(timedelta(seconds=1))
        sent.append(await haven.sender.drain())
        clock.advance(timedelta(seconds=1))
        sent.append(await haven.sender.drain())
    finally:
        await adapter.stop()
        await haven.close()
    assert sent == [2, 2, 2], "one message per second to each channel, staff ones too"
    assert fake.texts(DM) == fake.texts(STAFF) == ["message 0", "message 1", "message 2"]


async def test_a_rejected_app_token_stops_socket_mode_start_up(fake: FakeSlackAPI) -> None:
    adapter = SlackAdapter(options_for(fake, mode="socket", app_token="xapp-wrong"))

    async def core(_event: Inbound) -> None:
        raise AssertionError("nothing may arrive")

    with pytest.raises(AdapterStartError, match="slack: cannot open Socket Mode: invalid_auth"):
        await adapter.start(core)


async def test_a_port_in_use_stops_start_up_with_one_line(fake: FakeSlackAPI) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        adapter = SlackAdapter(options_for(fake, listen=f"127.0.0.1:{port}"))

        async def core(_event: Inbound) -> None:
            raise AssertionError("nothing may arrive")

        with pytest.raises(AdapterStartError, match=f"slack: cannot listen on 127.0.0.1:{port}"):
            await adapter.start(core)
