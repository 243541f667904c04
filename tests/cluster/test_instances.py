"""Two Haven processes on one PostgreSQL, behind a fake Telegram delivering webhooks to
them round-robin (tests/fleet.py): nothing lost, nothing done twice.

- 50 victims' whole journeys, evidence included, each update taken by either instance;
- 10,000 reminders falling due within seconds of each other, each sent exactly once;
- an escalation acknowledged through one instance is not escalated again by the other;
- one instance killed with -9 in the middle of it all: the other finishes the work
  (the evidence the dead one had journaled included), every receipted item is in the
  database, the audit passes, and what was sent twice
  stays within the at-least-once window (README: rows sent but not yet marked).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.delivery.outbox import DUE_BATCH
from storage import cases, evidence_items, intake_journal, reminders
from storage.database import Database
from storage.reminders import NewReminder
from storage.schema import outbox
from storage.schema import reminders as reminder_rows
from tests.backends import Backend
from tests.fakes import telegram_updates as tu
from tests.fakes.telegram_api import FakeBotAPI
from tests.fleet import MASTER_KEY, STAFF_FIRST, STAFF_SECOND, STAFF_USER, Chats, Fleet, Victim

pytestmark = pytest.mark.only_on("postgresql")

HAVEN = (sys.executable, "-m", "bot")
REMINDER_CASES = 500
REMINDERS_PER_CASE = 20  # 10,000 in all
REMINDER_WINDOW = timedelta(seconds=20)
DUE_ITEMS = ("forward_evidence", "preservation_request", "report_content", "police_report")


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    assert backend.url is not None
    opened = Database.open(backend.url)
    yield opened
    await opened.close()


async def fleet_of(tmp_path: Path, fake: FakeBotAPI, backend: Backend, **options: float) -> Fleet:
    assert backend.url is not None
    fleet = Fleet(tmp_path, fake, backend.url, **options)
    await fleet.start(2)
    return fleet


@pytest.mark.timeout(300)  # separate processes, on a shared 2-core machine
async def test_fifty_journeys_with_evidence_on_two_instances(
    tmp_path: Path, fake: FakeBotAPI, backend: Backend, db: Database
) -> None:
    chats = Chats(fake)
    fleet = await fleet_of(tmp_path, fake, backend)
    try:
        victims = [Victim(chats, fake, 70_000 + n) for n in range(50)]
        await asyncio.gather(*(victim.journey() for victim in victims))
        await settled(db)
    finally:
        await fleet.stop()
    assert set(fake.delivered_to.values()) == {0, 1}, "both instances took updates"
    for victim in victims:
        assert len(victim.receipts) == 2
        await assert_kept(db, victim)
    assert await sends_beyond_rows(db, fake) == 0
    assert audit_verify(fleet) == 0


@pytest.mark.timeout(600)  # separate processes, on a shared 2-core machine
async def test_ten_thousand_reminders_each_fire_exactly_once(
    tmp_path: Path, fake: FakeBotAPI, backend: Backend, db: Database
) -> None:
    chats = Chats(fake)
    fleet = await fleet_of(tmp_path, fake, backend)
    try:
        chat_ids = await seed_reminders(db)
        total = REMINDER_CASES * REMINDERS_PER_CASE
        arrived = await chats.until(
            lambda: sum(len(chats.of(chat)) for chat in chat_ids) >= total, 180
        )
        assert arrived, "every reminder arrived"
        await settled(db)
    finally:
        await fleet.stop()
    counts = {chat: len(chats.of(chat)) for chat in chat_ids}
    assert set(counts.values()) == {REMINDERS_PER_CASE}, "0 missing and 0 doubled, per chat"
    async with db.transaction() as conn:
        states = await conn.execute(
            select(reminder_rows.c.state, reminder_rows.c.rounds, func.count()).group_by(
                reminder_rows.c.state, reminder_rows.c.rounds
            )
        )
        assert [tuple(row) for row in states] == [("fired", 1, total)]
    fired = ["fired" in (i.data_dir / "haven.log").read_text() for i in fleet.instances]
    assert fired == [True, True], "both instances fired some"


@pytest.mark.timeout(300)  # separate processes, on a shared 2-core machine
async def test_an_acknowledgement_on_one_instance_stops_escalation_on_the_other(
    tmp_path: Path, fake: FakeBotAPI, backend: Backend, db: Database
) -> None:
    chats = Chats(fake)
    fleet = await fleet_of(tmp_path, fake, backend, escalation_minutes=0.1)  # 6 seconds
    try:
        victim = Victim(chats, fake, 71_000)
        await victim.send(lambda: victim.updates.message(victim.chat, victim.user, "/start"), any)
        for key in ("lang:en", "ok:", "safety=no", "extortion=yes"):
            await victim.press(key)
        assert await chats.until(lambda: chats.of(STAFF_FIRST), 10), "the staff were alerted"
        raised_by = fake.delivered_to[max(fake.delivered_to)]
        ack = next(b for b in chats.of(STAFF_FIRST)[-1].buttons if b.startswith("s:ack:"))
        group = tu.group_chat(STAFF_FIRST, "Haven staff")
        staff = tu.user(STAFF_USER, "Operator")
        await fake.deliver(victim.updates.press(group, staff, ack), first=1 - raised_by)
        assert fake.delivered_to[max(fake.delivered_to)] == 1 - raised_by
        edited = await fake.wait_for(lambda: fake.requests("editMessageText"), 10)
        assert edited
        # Three escalation timeouts: the instance that raised it would have escalated by now.
        await asyncio.sleep(18)
    finally:
        await fleet.stop()
    assert chats.of(STAFF_SECOND) == [], "no escalation to the second level"
    alerts = [m for m in chats.of(STAFF_FIRST) if m.buttons]
    assert len(alerts) == 1, "no repeated alert at the first level either"


@pytest.mark.timeout(300)  # separate processes, on a shared 2-core machine
async def test_kill_9_of_one_instance_under_load(
    tmp_path: Path, fake: FakeBotAPI, backend: Backend, db: Database
) -> None:
    chats = Chats(fake)
    fleet = await fleet_of(tmp_path, fake, backend)
    try:
        victims = [Victim(chats, fake, 72_000 + n) for n in range(30)]
        journeys = asyncio.gather(*(victim.journey() for victim in victims))
        await chats.until(lambda: sum(len(v.receipts) for v in victims) >= 10, 120)
        fleet.kill(0)
        await journeys
        await settled(db)
        await journal_emptied(db)
    finally:
        await fleet.stop()
    for victim in victims:
        await assert_kept(db, victim)
    twice = await sends_beyond_rows(db, fake)
    assert 0 <= twice <= DUE_BATCH, f"{twice} sent twice: beyond one unmarked pass"
    assert audit_verify(fleet, instance=1) == 0


# ---- helpers --------------------------------------------------------------------------


async def seed_reminders(db: Database) -> list[int]:
    """REMINDER_CASES cases, each with REMINDERS_PER_CASE reminders due in the window;
    then the timers are told, as an instance arming them would tell them."""
    now = datetime.now(UTC)
    spread = random.Random(18)
    chat_ids = [800_000 + n for n in range(REMINDER_CASES)]
    async with db.transaction() as conn:
        for chat in chat_ids:
            case = await cases.create(
                conn,
                platform="telegram",
                user_id=str(chat),
                chat_id=str(chat),
                locale="en",
                now=now,
            )
            due = [now + REMINDER_WINDOW * spread.random() for _ in range(REMINDERS_PER_CASE)]
            await reminders.add(
                conn,
                [
                    NewReminder(
                        case_id=case.id,
                        item_id=DUE_ITEMS[n % len(DUE_ITEMS)],
                        follow_up=n,
                        mode="until_done",
                        urgent=False,
                        remind_at=at,
                        fire_at=at,
                    )
                    for n, at in enumerate(due)
                ],
                now,
            )
        await conn.exec_driver_sql(f"NOTIFY haven_timer, '{now.isoformat()}'")
    return chat_ids


async def settled(db: Database, seconds: float = 60) -> None:
    """Until no outbox row is pending (the last sends marked)."""
    async with asyncio.timeout(seconds):
        while True:
            async with db.transaction() as conn:
                pending = await conn.execute(
                    select(func.count()).where(outbox.c.state == "pending")
                )
                if not pending.scalar():
                    return
            await asyncio.sleep(0.2)


async def journal_emptied(db: Database, seconds: float = 60) -> None:
    """Until no journaled event waits: what the killed instance had acknowledged to
    Telegram but not kept was taken over by the survivor (bot/cluster/journal_watch.py)."""
    async with asyncio.timeout(seconds):
        while True:
            async with db.transaction() as conn:
                if not await intake_journal.count(conn):
                    return
            await asyncio.sleep(0.2)


async def assert_kept(db: Database, victim: Victim) -> None:
    """Every item the victim got a receipt for is stored as the receipt says."""
    async with db.transaction() as conn:
        case_id = await cases.open_case_id(conn, "telegram", str(victim.user_id))
        assert case_id is not None
        items = {i.item_no: i for i in await evidence_items.for_case(conn, case_id)}
    for number, digest, position in victim.receipts:
        item = items[number]
        assert (item.content_sha256, item.leaf_index) == (digest, position)


async def sends_beyond_rows(db: Database, fake: FakeBotAPI) -> int:
    """Messages the fake received beyond the outbox rows marked sent: sent twice."""
    async with db.transaction() as conn:
        rows = (
            await conn.execute(select(func.count()).where(outbox.c.state == "sent"))
        ).scalar_one()
    return len(fake.sent("sendMessage")) + len(fake.sent("editMessageText")) - rows


def audit_verify(fleet: Fleet, instance: int = 0) -> int:
    chosen = fleet.instances[instance]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    env.update(HAVEN_TELEGRAM_TOKEN=fleet.fake.token, HAVEN_MASTER_KEY=MASTER_KEY)
    config = fleet.root / f"i{instance}.toml"
    done = subprocess.run(
        [*HAVEN, "audit", "verify", "--config", str(config), "--data-dir", str(chosen.data_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert "audit passed" in done.stdout, json.dumps([done.stdout[-2000:], done.stderr[-2000:]])
    return done.returncode
