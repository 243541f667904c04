"""Slack Socket Mode with two instances on one PostgreSQL: Slack spreads a Socket Mode app's
events over its open connections, so only the elected instance may hold one. Real slack-bolt
against the Slack fake's WebSocket; each instance its own coordination session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from adapters.slack import SlackAdapter
from bot.cluster.election import ReceiverElection
from bot.events import Inbound, InboundKind
from storage.coordinator import Coordinator
from storage.database import Database
from tests.adapters.test_slack import DM, VICTIM, options_for
from tests.backends import Backend
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_events import Traffic

pytestmark = pytest.mark.only_on("postgresql")


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Database]:
    assert backend.url is not None
    opened = Database.open(backend.url)
    yield opened
    await opened.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackAPI]:
    api = FakeSlackAPI()
    await api.start()
    api.add_user(VICTIM, "Mei", locale="zh-CN")
    yield api
    await api.close()


class Instance:
    """One Haven instance's Slack side: its adapter, its election, what reached its core."""

    def __init__(self, fake: FakeSlackAPI, coordinator: Coordinator) -> None:
        self.fake = fake
        self.adapter = SlackAdapter(options_for(fake, mode="socket", signing_secret=""))
        self.election = ReceiverElection(coordinator, "slack", self.adapter, retry_seconds=0.05)
        self.received: list[Inbound] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.adapter.prepare(self.core)
        self.task = asyncio.create_task(self.election.run())

    async def core(self, event: Inbound) -> None:
        self.received.append(event)
        self.fake.notify()  # wakes wait_for: what reached the core is an event too

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        await self.adapter.stop()


async def test_one_instance_holds_the_socket_and_the_other_takes_over_when_it_dies(
    db: Database, fake: FakeSlackAPI
) -> None:
    sessions = [await Coordinator.open(db), await Coordinator.open(db)]
    first, second = Instance(fake, sessions[0]), Instance(fake, sessions[1])
    traffic = Traffic()
    try:
        await first.start()
        await fake.wait_for(lambda: fake.socket_connections == 1)
        await second.start()
        for _ in range(5):  # the standby tries again and again; it never opens a second one
            await asyncio.sleep(0.05)
            assert fake.socket_connections == 1
        event = json.loads(traffic.callback(traffic.message(DM, VICTIM, "hello")).body)
        await fake.socket_send("events_api", event)
        await fake.wait_for(lambda: len(first.received) == 1)

        await sessions[0].close()  # the leader's database session ends, as when it dies
        # The standby has opened its own and the leader's is closed.
        await fake.wait_for(lambda: fake.sockets_opened == 2 and fake.socket_connections == 1)
        later = json.loads(traffic.callback(traffic.message(DM, VICTIM, "still there?")).body)
        await fake.socket_send("events_api", later)
        await fake.wait_for(lambda: len(second.received) == 1)
    finally:
        await first.stop()
        await second.stop()
        await sessions[1].close()
    assert [e.text for e in first.received] == ["hello"]
    assert [(e.kind, e.text) for e in second.received] == [(InboundKind.TEXT, "still there?")]
