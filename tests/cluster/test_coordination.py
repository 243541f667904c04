"""Several instances on one PostgreSQL database, in one process: each instance its own
coordination session (storage/coordinator.py), as two processes would have. The
two-process journeys, the 10,000 reminders and a kill -9 are in test_instances.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter, victim_event
from bot.adapter import InboundHandler
from bot.clock import ManualClock
from bot.cluster.chat_locks import SessionChatLocks
from bot.cluster.election import ReceiverElection
from bot.cluster.journal_watch import JournalWatch
from bot.cluster.wakeups import Wakeups
from bot.content.prompts import Reply
from bot.conversation.intake_journal import IntakeJournal
from bot.delivery.outbox import OutboxSender, StaffNotice, payload_of
from bot.events import ChatKind, ChatRef, Inbound, InboundKind, Outbound
from bot.runtime import Haven
from storage import outbox
from storage.coordinator import Coordinator
from storage.database import Database
from tests.backends import Backend
from tests.conftest import make_config

pytestmark = pytest.mark.only_on("postgresql")


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    assert backend.url is not None
    opened = Database.open(backend.url)
    yield opened
    await opened.close()


@pytest.fixture
async def pair(db: Database) -> AsyncIterator[tuple[Coordinator, Coordinator]]:
    first, second = await Coordinator.open(db), await Coordinator.open(db)
    yield first, second
    await first.close()
    await second.close()


async def test_a_chat_has_one_sender_until_its_session_ends(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    one, other = SessionChatLocks(pair[0]), SessionChatLocks(pair[1])
    assert await one.acquire("telegram", {"c1", "c2"}) == {"c1", "c2"}
    assert await other.acquire("telegram", {"c1", "c3"}) == {"c3"}
    assert one.holds("telegram", "c1") and not other.holds("telegram", "c1")
    await one.release("telegram", {"c1"})
    assert await other.acquire("telegram", {"c1"}) == {"c1"}
    await pair[0].close()  # as if the instance died: its session, and c2 with it, are gone
    assert await other.acquire("telegram", {"c2"}) == {"c2"}


class Receiver:
    """An adapter that records whether it is receiving."""

    needs_election = True

    def __init__(self) -> None:
        self.receiving = asyncio.Event()

    async def prepare(self, handler: InboundHandler) -> None:
        return None

    async def start_receiving(self) -> None:
        self.receiving.set()

    async def stop_receiving(self) -> None:
        self.receiving.clear()


async def test_one_instance_receives_and_another_takes_over_when_it_dies(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    first, second = Receiver(), Receiver()
    leader = ReceiverElection(pair[0], "telegram", first, retry_seconds=0.05)
    standby = ReceiverElection(pair[1], "telegram", second, retry_seconds=0.05)
    leading = asyncio.create_task(leader.run())
    await first.receiving.wait()
    standing_by = asyncio.create_task(standby.run())
    for _ in range(5):  # several tries of the standby: none is elected while the leader lives
        await asyncio.sleep(0.05)
        assert not second.receiving.is_set()
    await pair[0].close()  # the leader's session ends (its process died)
    await asyncio.wait_for(second.receiving.wait(), timeout=10)
    assert not first.receiving.is_set()  # it stepped down on losing its session
    for task in (leading, standing_by):
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_other_instance_is_woken_when_it_holds_work_or_should_arm_a_timer(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    holder_woken, armed = asyncio.Event(), asyncio.Event()
    clock = ManualClock()
    holder = Wakeups(pair[0], holder_woken.set, clock)
    await holder.listen(lambda _moments: None)
    other = Wakeups(pair[1], lambda: None, clock)
    await other.listen(lambda _moments: armed.set())
    holder.timers_set([clock.now()])  # a reminder set here: the other arms its timer
    await asyncio.wait_for(armed.wait(), timeout=10)
    # A chat held by the first: the other's sender passes over it and tells the holder,
    # which may have read the outbox before the new rows came.
    await SessionChatLocks(pair[0]).acquire("telegram", {"c1"})
    assert await SessionChatLocks(pair[1]).acquire("telegram", {"c1"}) == set()
    await asyncio.wait_for(holder_woken.wait(), timeout=10)


async def test_a_timer_is_announced_only_when_it_is_the_earliest_the_others_know_of(
    pair: tuple[Coordinator, Coordinator],
) -> None:
    told: list[datetime] = []
    clock = ManualClock()
    setter = Wakeups(pair[0], lambda: None, clock)
    await setter.listen(lambda _moments: None)
    await Wakeups(pair[1], lambda: None, clock).listen(told.extend)
    hour = timedelta(hours=1)
    first = clock.now() + 2 * hour
    for moment in (first, first + hour, first, first - hour, first + hour):
        setter.timers_set([moment])
    await delivered(*pair)
    # Later moments wait for the wake of an earlier one, which reads them from the
    # database; an earlier one must be told.
    assert told == [first, first - hour]
    clock.advance(3 * hour)  # the moments told have passed: the next one is told again
    setter.timers_set([first + 2 * hour])
    await delivered(*pair)
    assert told[-1] == first + 2 * hour


async def delivered(sender: Coordinator, receiver: Coordinator) -> None:
    """Until what ``sender`` announced so far has reached ``receiver``: its notifications
    go out one at a time, and PostgreSQL delivers them in order."""
    marker = f"haven_test_{uuid.uuid4().hex}"
    done = asyncio.Event()
    await receiver.listen(marker, lambda _payload: done.set())
    sender.announce(marker)
    await asyncio.wait_for(done.wait(), timeout=10)


async def test_two_senders_send_each_row_once_and_each_chat_in_order(
    tmp_path: Path, backend: Backend
) -> None:
    clock = ManualClock()
    config = make_config(tmp_path / "data")
    first = await Haven.open(config, {"memory": MemoryAdapter()}, clock)
    second = await Haven.open(config, {"memory": MemoryAdapter()}, clock)
    try:
        # More chats than one read of the outbox holds: each sender gets some.
        chats = [f"c{n}" for n in range(150)]
        async with first.db.transaction() as conn:
            for n in range(3):
                for chat in chats:
                    payload = payload_of(ChatRef("memory", chat, ChatKind.PRIVATE), Reply(f"{n}"))
                    await outbox.enqueue(
                        conn,
                        platform="memory",
                        chat_id=chat,
                        payload=payload,
                        case_id=None,
                        now=clock.now(),
                    )
        seen: list[tuple[str, str]] = []
        adapters = [Recording(seen), Recording(seen)]
        senders = [
            OutboxSender(
                haven.db,
                {"memory": adapter},
                clock,
                StaffNotice((), haven.playbook.texts, "en"),
                chat_locks=haven.sender.chat_locks,
            )
            for haven, adapter in zip((first, second), adapters, strict=True)
        ]
        while len(seen) < 3 * len(chats):
            await asyncio.gather(*(sender.drain() for sender in senders))
        for sender in senders:
            await sender.settle()
        assert sorted(seen) == sorted((chat, str(n)) for chat in chats for n in range(3))
        for chat in chats:
            assert [text for to, text in seen if to == chat] == [str(n) for n in range(3)]
        assert all(adapter.count for adapter in adapters), "both instances sent"
    finally:
        await first.close()
        await second.close()


class Recording(MemoryAdapter):
    """Sends slowly enough that two senders overlap, into one shared list."""

    def __init__(self, seen: list[tuple[str, str]]) -> None:
        super().__init__()
        self.seen = seen
        self.count = 0

    async def send(self, message: Outbound) -> str:
        await asyncio.sleep(0)
        self.seen.append((message.chat.chat_id, message.text))
        self.count += 1
        return await super().send(message)


async def test_a_gone_instances_journaled_evidence_is_taken_over_once_a_live_ones_never(
    tmp_path: Path, db: Database
) -> None:
    clock = ManualClock()
    first = await Haven.open(make_config(tmp_path / "data"), {"memory": MemoryAdapter()}, clock)
    ring = first.keyring
    others = [await Coordinator.open(db), await Coordinator.open(db)]
    journals = [IntakeJournal(db, ring, clock, coordinator) for coordinator in others]
    handled: list[tuple[int, Inbound]] = []
    taken = asyncio.Event()

    async def not_fetched(file_id: str, size: int | None) -> bytes:
        raise AssertionError("a forwarded text has no file")

    def handler_of(instance: int) -> InboundHandler:
        async def handle(inbound: Inbound) -> None:
            handled.append((instance, inbound))
            taken.set()

        return handle

    forward = victim_event(
        "memory", "v1", InboundKind.FORWARD, message_id="m-7", text="he sent it to my class"
    )
    await first.journal.keep(forward)  # acknowledged to the platform from here on
    for journal in journals:  # while the instance that journaled it lives, it is its own
        assert await journal.waiting("memory", not_fetched) == []

    watches = [
        JournalWatch(journal, "memory", not_fetched, handler_of(n), seconds=0.05)
        for n, journal in enumerate(journals)
    ]
    looking = [asyncio.create_task(watch.run()) for watch in watches]
    await first.close()  # that instance dies before handling it
    try:
        await asyncio.wait_for(taken.wait(), timeout=10)
    finally:
        for task in looking:
            task.cancel()
        await asyncio.gather(*looking, return_exceptions=True)
    for journal in journals:  # the survivor that took it over is handling it: nobody else
        assert await journal.waiting("memory", not_fetched) == []
    [(_, event)] = handled
    assert (event.message_id, event.text) == ("m-7", "he sent it to my class")
    for coordinator in others:
        await coordinator.close()
