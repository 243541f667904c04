"""Shared fixtures: a real Haven (SQLite file, real flow) behind the in-memory adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter, victim_event
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.events import InboundKind, Outbound
from bot.runtime import Haven

TEST_CONFIG = """
[support]
hotlines = [{ name = "Test support line", number = "000-TEST", hours = "24h" }]

[[escalation.levels]]
channels = ["memory:staff"]
"""


def make_config(data_dir: Path, extra: str = "") -> Config:
    path = data_dir.parent / f"{data_dir.name}.toml"
    path.write_text(TEST_CONFIG + extra, encoding="utf-8")
    return load_config(path, data_dir_override=data_dir)


class Victim:
    """Plays one victim in a private chat, the way a person would: type, tap, read."""

    def __init__(self, haven: Haven, adapter: MemoryAdapter, user: str = "v1") -> None:
        self.haven = haven
        self.adapter = adapter
        self.user = user

    async def _send(self, kind: InboundKind, **fields: object) -> list[Outbound]:
        before = len(self.adapter.sent[self.user])
        await self.haven.handle_and_deliver(
            victim_event(self.adapter.platform, self.user, kind, **fields)
        )
        return self.adapter.sent[self.user][before:]

    async def text(self, text: str, **fields: object) -> list[Outbound]:
        return await self._send(InboundKind.TEXT, text=text, **fields)

    async def command(self, command: str, args: str = "") -> list[Outbound]:
        return await self._send(InboundKind.COMMAND, command=command, args=args)

    async def press(self, key: str) -> list[Outbound]:
        """Tap the button of the latest prompt whose data ends with `key` (e.g. "safety=no")."""
        for button in self.adapter.last_buttons(self.user):
            if button.data.split(":", 2)[-1] == key or button.data.endswith(":" + key):
                return await self._send(InboundKind.BUTTON, button_data=button.data)
        offered = [b.data for b in self.adapter.last_buttons(self.user)]
        raise AssertionError(f"no button {key!r} among {offered}")

    async def raw_press(self, data: str) -> list[Outbound]:
        return await self._send(InboundKind.BUTTON, button_data=data)

    def transcript(self) -> str:
        return "\n".join(m.text for m in self.adapter.sent[self.user])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data")


@pytest.fixture
async def haven(config: Config, clock: ManualClock) -> AsyncIterator[tuple[Haven, MemoryAdapter]]:
    adapter = MemoryAdapter()
    opened = await Haven.open(config, {adapter.platform: adapter}, clock)
    yield opened, adapter
    await opened.close()


@pytest.fixture
def victim(haven: tuple[Haven, MemoryAdapter]) -> Victim:
    return Victim(*haven)
