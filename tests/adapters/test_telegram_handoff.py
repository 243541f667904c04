"""Talking with a victim on Telegram: the real python-telegram-bot against the fake Bot API.

An alert in the staff group → *Take case* → the victim's words reach the staff member's
private chat with the bot (masked) → the staff member answers there → the victim reads it
under the chosen name → `/release` in the group → the checklist is back; an answer overdue
(controllable clock) tells the victim and alerts the group again. With `relay = "thread"`
the victim's words are replies to the alert, and the staff member answers by replying.
Both languages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.telegram import TelegramAdapter
from bot.clock import ManualClock
from bot.config import load_config
from bot.runtime import Haven
from storage import schema
from tests.adapters.test_telegram import CONFIG, STAFF_GROUP, VICTIM, VICTIM_CHAT, Rig, options_for
from tests.chat_rig import retry_quickly, serving, until
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeBotAPI

STAFF = tu.user(9001, "Operator", language_code="en")
STAFF_DM = tu.private_chat(STAFF)
GROUP = tu.group_chat(STAFF_GROUP, "Haven staff")
PHONE = "13812345678"
NAMED = '\ndisplay_name = "Li"\n'


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, fake: FakeBotAPI, extra: str = "") -> AsyncIterator[Rig]:
    path = tmp_path / "haven.toml"
    path.write_text(CONFIG + NAMED + extra, encoding="utf-8")
    config = load_config(
        path, data_dir_override=tmp_path / "data", environ={"HAVEN_TELEGRAM_TOKEN": fake.token}
    )
    adapter = TelegramAdapter(options_for(fake))
    haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
    retry_quickly(haven)
    rig = Rig(fake, haven, adapter)
    async with serving(haven, adapter, rig.core):
        yield rig


async def alerted(rig: Rig, locale: str) -> None:
    await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "/start"))
    for key in (f"lang:{locale}", "ok:", "safety=no", "extortion=yes"):
        await rig.press(key)
    await until(lambda: rig.fake.last_buttons(STAFF_GROUP))


async def from_staff(rig: Rig, update: dict[str, object]) -> None:
    rig.fake.push(update)
    await rig.settle(rig.handled + 1)


async def sent_ids(rig: Rig) -> list[str]:
    """The Telegram ids of what Haven posted in the staff group, oldest first."""
    await rig.haven.sender.settle()
    query = (
        select(schema.outbox.c.platform_message_id)
        .where(schema.outbox.c.chat_id == str(STAFF_GROUP), schema.outbox.c.state == "sent")
        .where(~schema.outbox.c.payload.contains("edit_of_row"))
        .order_by(schema.outbox.c.id)
    )
    async with rig.haven.db.transaction() as conn:
        return [str(found) for found in (await conn.execute(query)).scalars()]


def victim_words(rig: Rig, locale: str, key: str, **fields: object) -> str:
    return rig.haven.playbook.texts.get(locale, key, **fields)


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_take_talk_in_private_and_release_on_telegram(
    tmp_path: Path, fake: FakeBotAPI, locale: str
) -> None:
    async with running(tmp_path, fake) as rig:
        await alerted(rig, locale)
        take = next(b for b in fake.last_buttons(STAFF_GROUP) if b.startswith("s:take:"))
        await from_staff(rig, rig.updates.press(GROUP, STAFF, take))
        started = victim_words(rig, locale, "talk.victim_started", name="Li")
        await until(lambda: started in fake.texts(VICTIM["id"]))
        await until(lambda: fake.texts(STAFF["id"]))

        await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, f"call me {PHONE}"))
        relayed = rig.text("talk.relayed", case_id=1, text="call me 138****5678")
        await until(lambda: relayed in fake.texts(STAFF["id"]))
        assert PHONE not in "\n".join(fake.texts(STAFF["id"]))

        await from_staff(rig, rig.updates.message(STAFF_DM, STAFF, "I'm here."))
        answer = victim_words(rig, locale, "talk.from_staff", name="Li", text="I'm here.")
        await until(lambda: answer in fake.texts(VICTIM["id"]))
        assert "Operator" not in "\n".join(fake.texts(VICTIM["id"]))

        rig.haven.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
        await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, "are you still there?"))
        rig.haven.clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
        await rig.haven.scheduler.fire_due()
        rig.haven.sender.wake()
        heard = victim_words(rig, locale, "talk.victim_unanswered", name="Li", contacts="")
        await until(lambda: any(t.startswith(heard.strip()) for t in fake.texts(VICTIM["id"])))
        again = rig.text("staff_reason.talk_unanswered")
        await until(lambda: any(again in t for t in fake.texts(STAFF_GROUP)))

        await from_staff(rig, rig.updates.message(GROUP, STAFF, "/release 1"))
        back = victim_words(rig, locale, "talk.victim_ended_by_staff", name="Li")
        await until(lambda: any(t.startswith(back) for t in fake.texts(VICTIM["id"])))
        assert not fake.last_buttons(VICTIM["id"])[0].startswith("t:"), "the checklist is back"


async def test_with_threads_the_words_are_replies_to_the_alert(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    async with running(tmp_path, fake, '\n[handoff]\nrelay = "thread"\n') as rig:
        await alerted(rig, "en")
        take = next(b for b in fake.last_buttons(STAFF_GROUP) if b.startswith("s:take:"))
        await from_staff(rig, rig.updates.press(GROUP, STAFF, take))
        await rig.exchange(rig.updates.message(VICTIM_CHAT, VICTIM, f"call me {PHONE}"))
        relayed = rig.text("talk.relayed", case_id=1, text="call me 138****5678")
        await until(lambda: relayed in fake.texts(STAFF_GROUP))
        call = next(c for c in fake.sent("sendMessage", STAFF_GROUP) if c.params["text"] == relayed)
        ids = await sent_ids(rig)
        assert call.params["reply_parameters"]["message_id"] == int(ids[0]), "under the alert"
        answered = {
            "message_id": int(ids[-1]),
            "date": 0,
            "chat": GROUP,
            "text": relayed,
        }
        reply = rig.updates.message(GROUP, STAFF, "I'm here.", reply_to_message=answered)
        await from_staff(rig, reply)
        said = rig.text("talk.from_staff", name="Li", text="I'm here.")
        await until(lambda: said in fake.texts(VICTIM["id"]))
        chatter = rig.updates.message(GROUP, STAFF, "(note to self: call back at 3)")
        await from_staff(rig, chatter)
        assert not any("note to self" in t for t in fake.texts(VICTIM["id"]))
