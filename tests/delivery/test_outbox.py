"""The outbox sender against adapters that fail: nothing lost, order kept, dead letters told.

Rows are queued straight into the real database; an in-memory adapter refuses sends the
way a platform would. Time is a ManualClock: backoff and retry-after are waited out by
moving it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.memory import MemoryAdapter
from bot.adapter import DeliveryError
from bot.clock import ManualClock
from bot.config import ConfigError, load_config
from bot.content.prompts import Reply
from bot.delivery.outbox import (
    DUE_BATCH,
    MARK_EVERY,
    OutboxSender,
    RetryPolicy,
    StaffNotice,
    payload_of,
)
from bot.delivery.outbox_admin import outbox_command
from bot.delivery.ratelimit import RateBudget
from bot.events import ChatKind, ChatRef, Outbound, OutboundFile
from bot.ops.cli import main
from bot.runtime import Haven
from storage import outbox
from storage.database import Database
from storage.schema import outbox as outbox_rows
from tests.conftest import TEST_CONFIG
from tests.sql_trace import traced

Refusal = Callable[[Outbound], DeliveryError | None]
STAFF = ChatRef("memory", "staff", ChatKind.STAFF)


class Flaky(MemoryAdapter):
    """Delivers like the memory adapter, unless `refuse` returns an error to raise."""

    def __init__(self, refuse: Refusal) -> None:
        super().__init__()
        self.refuse = refuse

    async def send(self, message: Outbound) -> str:
        error = self.refuse(message)
        if error is not None:
            raise error
        return await super().send(message)


def sender_for(haven: Haven, adapter: MemoryAdapter, **options: object) -> OutboxSender:
    notice = StaffNotice((STAFF,), haven.playbook.texts, "en")
    return OutboxSender(haven.db, {"memory": adapter}, haven.clock, notice, **options)  # type: ignore[arg-type]


async def queue(haven: Haven, chat: str, text: str, kind: ChatKind = ChatKind.PRIVATE) -> None:
    payload = payload_of(ChatRef("memory", chat, kind), Reply(text))
    async with haven.db.transaction() as conn:
        await outbox.enqueue(
            conn,
            platform="memory",
            chat_id=chat,
            payload=payload,
            case_id=None,
            now=haven.clock.now(),
        )


async def table(haven: Haven) -> list[dict[str, object]]:
    async with haven.db.transaction() as conn:
        found = await conn.execute(select(outbox_rows).order_by(outbox_rows.c.id))
        return [dict(row._mapping) for row in found]


def texts(adapter: MemoryAdapter, chat: str) -> list[str]:
    return [m.text for m in adapter.sent[chat]]


def core(pair: tuple[Haven, MemoryAdapter]) -> Haven:
    return pair[0]


async def test_an_outage_loses_nothing_and_keeps_each_chats_order(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    chats = [f"c{n}" for n in range(5)]
    for n in range(10):
        for chat in chats:
            await queue(h, chat, f"{chat}-{n}")
    adapter = MemoryAdapter()
    adapter.fail_next = 12  # the platform is down for the first dozen attempts
    sender = sender_for(h, adapter)
    for _ in range(40):
        await sender.drain()
        clock.advance(timedelta(seconds=30))
    for chat in chats:
        assert texts(adapter, chat) == [f"{chat}-{n}" for n in range(10)]
    await sender.settle()
    rows = await table(h)
    assert {row["state"] for row in rows} == {"sent"}
    assert sum(int(row["attempts"]) for row in rows) == 12  # type: ignore[call-overload]
    assert adapter.sent["staff"] == []


async def test_backoff_grows_exponentially_with_jitter(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    await queue(h, "c1", "hello")
    sender = sender_for(h, Flaky(lambda m: DeliveryError("502 Bad Gateway")))
    waits = []
    for _ in range(4):
        await sender.drain()
        (row,) = await table(h)
        wait = row["not_before"] - clock.now()  # type: ignore[operator]
        waits.append(wait.total_seconds())
        clock.advance(wait)
    for failures, seconds in enumerate(waits, start=1):
        ceiling = 2 ** (failures - 1)
        assert ceiling / 2 <= seconds <= ceiling


async def test_a_permanent_refusal_is_a_dead_letter_at_once_and_staff_hear_of_it(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    await queue(h, "blocked", "private words about the case")
    await queue(h, "fine", "hello")
    refusal = DeliveryError("403 Forbidden: bot was blocked by the user", permanent=True)
    adapter = Flaky(lambda m: refusal if m.chat.chat_id == "blocked" else None)
    await sender_for(h, adapter).drain()
    states = {row["chat_id"]: (row["state"], row["attempts"]) for row in await table(h)}
    assert states["blocked"] == ("dead", 1)
    assert texts(adapter, "fine") == ["hello"]
    (alert,) = texts(adapter, "staff")
    assert alert.startswith(h.playbook.texts.get("en", "delivery.dead_letter"))
    assert "memory" in alert and "blocked by the user" in alert
    assert "private words" not in alert


async def test_after_the_last_retry_a_message_is_a_dead_letter_and_staff_are_alerted_once(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    await queue(h, "down", "hello")
    adapter = Flaky(lambda m: DeliveryError("timed out") if m.chat.chat_id == "down" else None)
    sender = sender_for(h, adapter, policy=RetryPolicy(attempts=6))
    for attempt in range(1, 7):
        await sender.drain()
        (row, *_) = await table(h)
        assert (row["state"], row["attempts"]) == ("pending" if attempt < 6 else "dead", attempt)
        clock.advance(timedelta(minutes=10))
    await sender.drain()
    assert len(texts(adapter, "staff")) == 1
    assert adapter.sent["down"] == []


async def test_a_failing_staff_channel_is_logged_loudly_and_kept_for_retry(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    h = core(haven)
    await queue(h, "staff", "🚨 an alert", ChatKind.STAFF)
    gone = DeliveryError("400 Bad Request: chat not found", permanent=True)
    adapter = Flaky(lambda m: gone if m.chat.chat_id == "staff" else None)
    with caplog.at_level(logging.CRITICAL, logger="bot.delivery.outbox"):
        await sender_for(h, adapter).drain()
    assert "STAFF CHANNEL UNREACHABLE" in caplog.text
    (row,) = await table(h)  # no alert about the alert
    assert row["state"] == "dead"
    report = await outbox_command(h.config, retry=True)
    assert report.startswith("re-queued 1 dead letter(s)")
    healthy = MemoryAdapter()
    await sender_for(h, healthy).drain()
    assert texts(healthy, "staff") == ["🚨 an alert"]


async def test_retry_after_is_honoured_for_the_whole_adapter_and_costs_no_attempt(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    for text in ("a1", "a2"):
        await queue(h, "a", text)
    await queue(h, "b", "b1")
    limited = [DeliveryError("429 Too Many Requests", retry_after=30)]
    adapter = Flaky(lambda m: limited.pop() if limited else None)
    sender = sender_for(h, adapter)
    assert await sender.drain() == 0
    first = (await table(h))[0]
    assert first["attempts"] == 0
    assert first["not_before"] == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert await sender.drain() == 0
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 3
    assert texts(adapter, "a") == ["a1", "a2"] and texts(adapter, "b") == ["b1"]


async def test_rate_budgets_per_chat_and_per_adapter(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    chats = [f"c{n}" for n in range(5)]
    for n in range(2):
        for chat in chats:
            await queue(h, chat, f"{chat}-{n}")
    adapter = MemoryAdapter()
    budget = RateBudget(global_per_second=3, per_chat_per_second=1)
    sender = sender_for(h, adapter, budgets={"memory": budget})
    assert await sender.drain() == 3  # the adapter's budget: three at once
    assert sorted(chat for chat, sent in adapter.sent.items() if sent) == chats[:3]
    assert await sender.drain() == 0  # nothing left until the clock moves
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 3
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 3
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 1
    for chat in chats:
        assert texts(adapter, chat) == [f"{chat}-0", f"{chat}-1"]


def test_haven_outbox_counts_and_retry_requeues(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "haven.toml"
    config_file.write_text(TEST_CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    asyncio.run(dead_letters(f"sqlite+aiosqlite:///{data / 'haven.db'}", 2))
    args = ["--config", str(config_file), "--data-dir", str(data)]
    assert main(["outbox", *args]) == 0
    shown = capsys.readouterr().out
    assert "pending       0" in shown and "dead letters  2" in shown
    assert "dropped       0" in shown
    assert main(["outbox", "retry", *args]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("re-queued 2 dead letter(s)")
    assert "pending       2" in shown and "dead letters  0" in shown


async def dead_letters(url: str, count: int) -> None:
    db = Database.open(url)
    await db.migrate()
    clock = ManualClock()
    async with db.transaction() as conn:
        for n in range(count):
            row_id = await outbox.enqueue(
                conn,
                platform="console",
                chat_id="victim",
                payload={"text": f"m{n}"},
                case_id=None,
                now=clock.now(),
            )
            await outbox.mark_failed(conn, row_id, error="gone", retry_at=None, now=clock.now())
    await db.close()


async def test_a_clock_jumping_back_does_not_freeze_the_rate_budget(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    h = core(haven)
    for text in ("one", "two"):
        await queue(h, "c1", text)
    adapter = MemoryAdapter()
    sender = sender_for(h, adapter, budgets={"memory": RateBudget(per_chat_per_second=1)})
    assert await sender.drain() == 1
    clock.advance(timedelta(hours=-1))
    assert await sender.drain() == 0
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 1
    assert texts(adapter, "c1") == ["one", "two"]


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("[outbox]\nbackoff_cap_seconds = 0.5\n", "outbox: backoff_cap_seconds must not be"),
        ("[outbox]\nattempts = 0\n", "outbox.attempts: expected an integer >= 1"),
        ("[reminders]\ndelay_factor = 2\n", "reminders.delay_factor: expected a number above 0"),
    ],
)
def test_bad_delivery_settings_name_their_key(tmp_path: Path, setting: str, named: str) -> None:
    path = tmp_path / "haven.toml"
    path.write_text(setting, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert named in str(caught.value)


async def test_an_edit_names_the_platform_id_its_original_got_when_it_was_sent(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    h = core(haven)
    await queue(h, "staff", "alert", ChatKind.STAFF)
    original = (await table(h))[0]["id"]
    edit = payload_of(STAFF, Reply("alert: acknowledged"), edit_of_row=int(original))  # type: ignore[call-overload]
    attached = Reply("bundle", file=OutboundFile("/tmp/b.zip", "b.zip", "application/zip"))
    async with h.db.transaction() as conn:
        for payload in (edit, payload_of(STAFF, attached)):
            await outbox.enqueue(
                conn,
                platform="memory",
                chat_id="staff",
                payload=payload,
                case_id=None,
                now=h.clock.now(),
            )
    adapter = MemoryAdapter()
    sender = sender_for(h, adapter)
    await sender.drain()
    await sender.settle()
    first, edited, with_file = adapter.sent["staff"]
    sent_id = next(r["platform_message_id"] for r in await table(h) if r["id"] == original)
    assert (first.edit_of, edited.edit_of) == ("", sent_id) and sent_id
    assert with_file.file == OutboundFile("/tmp/b.zip", "b.zip", "application/zip")


async def test_an_edit_of_a_message_never_sent_goes_out_as_a_new_message(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    h = core(haven)
    async with h.db.transaction() as conn:
        await outbox.enqueue(
            conn,
            platform="memory",
            chat_id="staff",
            payload=payload_of(STAFF, Reply("update"), edit_of_row=9999),
            case_id=None,
            now=h.clock.now(),
        )
    adapter = MemoryAdapter()
    await sender_for(h, adapter).drain()
    assert [(m.text, m.edit_of) for m in adapter.sent["staff"]] == [("update", "")]


async def test_drains_asked_for_at_once_send_each_message_once_in_few_passes(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    h = core(haven)
    for n in range(10):
        await queue(h, f"c{n}", f"m{n}")
    adapter = MemoryAdapter()
    sender = sender_for(h, adapter)
    async with traced(h.db) as statements:
        sent = await asyncio.gather(*(sender.drain() for _ in range(10)))
    reads = sum(s.startswith("SELECT outbox.id") for s in statements)
    assert reads >= 1
    assert sorted(sent, reverse=True) == [10] + [0] * 9
    assert all(texts(adapter, f"c{n}") == [f"m{n}"] for n in range(10))
    # The first pass, then one more for the nine calls made while it ran (each pass
    # reads until nothing is due): not a pass per call.
    assert reads <= 4
    await queue(h, "c0", "later")
    assert await sender.drain() == 1  # a call after the last pass gets a pass of its own


async def test_a_sender_woken_as_it_is_cancelled_still_stops(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    # A wake-up and the cancel of shutdown landing in the same loop turn: Python 3.11's
    # wait_for hands back the wake-up and drops the cancel, and shutdown waits forever.
    sender = sender_for(core(haven), MemoryAdapter(), idle_poll_seconds=0.05)
    running = asyncio.create_task(sender.run())
    await asyncio.sleep(0.01)
    sender.wake()
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):
            await running


async def test_a_busy_staff_channel_does_not_hold_back_victims_replies(
    haven: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    # An escalation storm: more alerts waiting for the staff channel's budget than one
    # read of the outbox holds, queued before a victim's reply.
    h = core(haven)
    for n in range(DUE_BATCH + 20):
        await queue(h, "staff", f"alert {n}", ChatKind.STAFF)
    await queue(h, "victim", "your evidence is safe")
    adapter = MemoryAdapter()
    budget = RateBudget(per_group_per_minute=20)
    sender = sender_for(h, adapter, budgets={"memory": budget})
    await sender.drain()
    assert texts(adapter, "victim") == ["your evidence is safe"]
    assert 0 < len(texts(adapter, "staff")) < DUE_BATCH
    clock.advance(timedelta(minutes=10))
    for _ in range(10):
        await sender.drain()
        clock.advance(timedelta(minutes=1))
    assert texts(adapter, "staff") == [f"alert {n}" for n in range(DUE_BATCH + 20)]


async def test_a_long_pass_sends_each_row_once_and_marks_all_before_it_returns(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    # More rows than one read takes and than one mark write holds: later reads must pass
    # over rows whose marks are still being written, and none may go out twice.
    h = core(haven)
    total = 2 * DUE_BATCH + 3 * MARK_EVERY + 7
    for n in range(total):
        await queue(h, f"c{n % 7}", f"m{n}")
    adapter = MemoryAdapter()
    sender = sender_for(h, adapter)
    assert await sender.drain() == total
    sent = [m.text for chat in adapter.sent.values() for m in chat]
    assert sorted(sent) == sorted(f"m{n}" for n in range(total))
    await sender.settle()
    assert {row["state"] for row in await table(h)} == {"sent"}


async def test_a_chat_whose_budget_is_spent_is_passed_over_from_the_first_read(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    h = core(haven)
    for n in range(DUE_BATCH + 20):
        await queue(h, "staff", f"alert {n}", ChatKind.STAFF)
    adapter = MemoryAdapter()
    sender = sender_for(h, adapter, budgets={"memory": RateBudget(per_group_per_minute=20)})
    await sender.drain()
    await queue(h, "victim", "your evidence is safe")
    async with traced(h.db) as statements:
        assert await sender.drain() == 1
    reads = [s for s in statements if s.startswith("SELECT outbox.id")]
    assert len(reads) == 1, "the staff channel's waiting alerts are not read again"
    assert texts(adapter, "victim") == ["your evidence is safe"]


async def test_a_slow_send_to_one_chat_does_not_hold_up_the_others(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    # A large file going to the staff channel, or a platform slow for one chat, must not
    # keep every victim's answer waiting behind it: chats are sent side by side.
    h = core(haven)
    await queue(h, "slow", "a long upload")
    await queue(h, "slow", "after the upload")
    await queue(h, "fast", "an answer")
    others_sent = asyncio.Event()

    class OneSlowChat(MemoryAdapter):
        async def send(self, message: Outbound) -> str:
            if message.chat.chat_id == "slow" and message.text == "a long upload":
                await others_sent.wait()  # sent one after another, this never ends
            sent = await super().send(message)
            if message.chat.chat_id == "fast":
                others_sent.set()
            return sent

    adapter = OneSlowChat()
    async with asyncio.timeout(10):
        assert await sender_for(h, adapter).drain() == 3
    assert texts(adapter, "slow") == ["a long upload", "after the upload"]
    assert texts(adapter, "fast") == ["an answer"]


async def test_a_pass_sends_what_was_queued_before_it_began_and_does_not_chase_the_rest(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    # Under steady traffic new rows arrive while a pass sends; the pass leaves them to the
    # next one instead of keeping every caller waiting while it chases them.
    h = core(haven)
    for n in range(DUE_BATCH):
        await queue(h, f"c{n % 5}", f"before {n}")

    class Busy(MemoryAdapter):
        async def send(self, message: Outbound) -> str:
            if message.text.startswith("before"):
                await queue(h, "c9", f"during {message.text}")
            return await super().send(message)

    adapter = Busy()
    sender = sender_for(h, adapter)
    assert await sender.drain() == DUE_BATCH
    assert await sender.drain() == DUE_BATCH, "the next pass takes what came meanwhile"
    # The five chats are sent side by side, so c9's rows come in the order their sends
    # happened to run; each of c0..c4 kept its own order.
    assert sorted(texts(adapter, "c9")) == sorted(f"during before {n}" for n in range(DUE_BATCH))
    for chat in range(5):
        assert texts(adapter, f"c{chat}") == [
            f"before {n}" for n in range(DUE_BATCH) if n % 5 == chat
        ]
