"""Talking with a victim on Slack: the real slack-bolt app against the fake Slack Web API.

An alert in the staff channel → *Take case* → the victim's words reach the staff member's
direct message with the app (masked) → the staff member answers there → the victim reads it
under the chosen name → `/haven release 1` → the checklist is back; an answer overdue
(controllable clock) tells the victim and alerts the channel again. With
`relay = "thread"` the words go into the alert's thread and a reply in the thread answers.
Both languages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from adapters.slack import SlackAdapter
from bot.clock import ManualClock
from bot.config import load_config
from bot.runtime import Haven
from tests.adapters.test_slack import CONFIG, DM, ENV, OPERATOR, STAFF, VICTIM, Rig, options_for
from tests.chat_rig import retry_quickly, serving, until
from tests.fakes.slack_api import FakeSlackAPI

OPERATOR_DM = "D" + OPERATOR.removeprefix("U")  # as the fake's conversations.open names it
PHONE = "13812345678"
NAMED = '\ndisplay_name = "Li"\n'


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackAPI]:
    api = FakeSlackAPI()
    await api.start()
    api.add_user(VICTIM, "Mei", locale="zh-CN")
    api.add_user(OPERATOR, "Olu")
    yield api
    await api.close()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, fake: FakeSlackAPI, extra: str = "") -> AsyncIterator[Rig]:
    path = tmp_path / "haven.toml"
    path.write_text(CONFIG + NAMED + extra, encoding="utf-8")
    config = load_config(path, data_dir_override=tmp_path / "data", environ=ENV)
    adapter = SlackAdapter(options_for(fake))
    haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
    retry_quickly(haven)
    async with aiohttp.ClientSession() as http:
        rig = Rig(fake, haven, adapter, http)
        async with serving(haven, adapter, rig.core):
            yield rig


async def alerted(rig: Rig, locale: str) -> str:
    """Raise the victim's case; return the alert's ts."""
    await rig.say("hello")
    for key in (f"lang:{locale}", "ok:", "safety=no", "extortion=yes"):
        await rig.press(key)
    await until(lambda: rig.fake.last_buttons(STAFF))
    [ts] = [ts for channel, ts in rig.fake.messages if channel == STAFF]
    return ts


async def staff_says(rig: Rig, channel: str, text: str, **extra: str) -> None:
    handled = rig.handled
    message = rig.traffic.message(channel, OPERATOR, text, **extra)
    assert await rig.post(rig.traffic.callback(message)) == 200
    await rig.settle(handled + 1)


async def take(rig: Rig, alert_ts: str) -> None:
    value = next(v for v in rig.fake.last_buttons(STAFF) if ":take:" in v)
    handled = rig.handled
    assert await rig.post(rig.traffic.press(STAFF, OPERATOR, value, message_ts=alert_ts)) == 200
    await rig.settle(handled + 1)


def words(rig: Rig, locale: str, key: str, **fields: object) -> str:
    return rig.haven.playbook.texts.get(locale, key, **fields)


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_take_talk_in_a_direct_message_and_release_on_slack(
    tmp_path: Path, fake: FakeSlackAPI, locale: str
) -> None:
    async with running(tmp_path, fake) as rig:
        await take(rig, await alerted(rig, locale))
        assert words(rig, locale, "talk.victim_started", name="Li") in fake.texts(DM)
        await until(lambda: fake.texts(OPERATOR_DM))

        await rig.say(f"call me {PHONE}")
        relayed = rig.text("talk.relayed", case_id=1, text="call me 138****5678")
        await until(lambda: relayed in fake.texts(OPERATOR_DM))
        assert PHONE not in "\n".join(fake.texts(OPERATOR_DM))

        await staff_says(rig, OPERATOR_DM, "I'm here.")
        answer = words(rig, locale, "talk.from_staff", name="Li", text="I'm here.")
        assert answer in fake.texts(DM)
        assert "Olu" not in "\n".join(fake.texts(DM))

        await rig.say("are you still there?")
        rig.haven.clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
        await rig.haven.scheduler.fire_due()
        rig.haven.sender.wake()
        heard = words(rig, locale, "talk.victim_unanswered", name="Li", contacts="").strip()
        await until(lambda: any(t.startswith(heard) for t in fake.texts(DM)))
        again = rig.text("staff_reason.talk_unanswered")
        await until(lambda: any(again in t for t in fake.texts(STAFF)))

        handled = rig.handled
        assert await rig.post(rig.traffic.command(STAFF, OPERATOR, "release 1")) == 200
        await rig.settle(handled + 1)
        back = words(rig, locale, "talk.victim_ended_by_staff", name="Li")
        assert any(t.startswith(back) for t in fake.texts(DM))
        assert not fake.last_buttons(DM)[0].startswith("t:"), "the checklist is back"


async def test_with_threads_the_words_go_into_the_alerts_thread(
    tmp_path: Path, fake: FakeSlackAPI
) -> None:
    async with running(tmp_path, fake, '\n[handoff]\nrelay = "thread"\n') as rig:
        alert_ts = await alerted(rig, "en")
        await take(rig, alert_ts)
        await rig.say(f"call me {PHONE}")
        relayed = rig.text("talk.relayed", case_id=1, text="call me 138****5678")
        await until(lambda: relayed in fake.texts(STAFF))
        call = next(c for c in fake.sent("chat.postMessage", STAFF) if c.params["text"] == relayed)
        assert call.params["thread_ts"] == alert_ts
        await staff_says(rig, STAFF, "I'm here.", thread_ts=alert_ts)
        assert rig.text("talk.from_staff", name="Li", text="I'm here.") in fake.texts(DM)
        await staff_says(rig, STAFF, "who is on call tonight?")
        assert not any("on call" in t for t in fake.texts(DM)), "channel talk stays there"
