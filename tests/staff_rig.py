"""A real Haven with a staff side, for the staff tests: two escalation levels, configured
staff in each role, the in-memory adapter standing in for the console platform, SQLite and
a ManualClock. Staff act the way they would in a channel: commands and button presses."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.events import Button, ChatKind, ChatRef, Identity, Inbound, InboundKind, Outbound
from bot.runtime import Haven
from tests import backends
from tests.conftest import Victim

PLATFORM = "console"
FIRST, SECOND = "staff", "leads"
# The console's own staff user ("staff", admin) is staff too, as in `haven run`.
STAFF_CONFIG = """
default_locale = "en"

[support]
hotlines = [{ name = "Test support line", number = "000-TEST", hours = "24h" }]

[[escalation.levels]]
channels = ["console:staff"]
timeout_minutes = 30
repeat_minutes = 30

[[escalation.levels]]
channels = ["console:leads"]
timeout_minutes = 30
repeat_minutes = 15

[[staff]]
platform = "console"
user_id = "alice"
role = "operator"
name = "Alice"

[[staff]]
platform = "console"
user_id = "bob"
role = "admin"
name = "Bob"

[[staff]]
platform = "console"
user_id = "carol"
role = "auditor"
name = "Carol"
"""

_ids = itertools.count(1)


def staff_config(data_dir: Path, extra: str = "", base: str = STAFF_CONFIG) -> Config:
    path = data_dir.parent / f"{data_dir.name}.toml"
    path.write_text(backends.active.config_text(base + extra), encoding="utf-8")
    return load_config(path, data_dir_override=data_dir)


class Rig:
    def __init__(self, haven: Haven, adapter: MemoryAdapter, clock: ManualClock) -> None:
        self.haven = haven
        self.adapter = adapter
        self.clock = clock
        self.victim = Victim(haven, adapter, "v1")

    def t(self, key: str, **fields: object) -> str:
        return self.haven.playbook.texts.get("en", key, **fields)

    def channel(self, chat_id: str = FIRST) -> list[Outbound]:
        return self.adapter.sent[chat_id]

    def texts(self, chat_id: str = FIRST) -> list[str]:
        return [m.text for m in self.adapter.sent[chat_id]]

    async def _act(
        self, user: str, kind: InboundKind, chat_id: str, **fields: str
    ) -> list[Outbound]:
        before = len(self.adapter.sent[chat_id])
        inbound = Inbound(
            kind=kind,
            identity=Identity(PLATFORM, user, user),
            chat=ChatRef(PLATFORM, chat_id, ChatKind.STAFF),
            received_at=datetime.now(UTC),
            message_id=f"s{next(_ids)}",
            **fields,
        )
        await self.haven.handle_and_deliver(inbound)
        return self.adapter.sent[chat_id][before:]

    async def command(
        self, user: str, command: str, args: str = "", chat_id: str = FIRST
    ) -> list[Outbound]:
        return await self._act(user, InboundKind.COMMAND, chat_id, command=command, args=args)

    async def press(self, user: str, button: Button, chat_id: str = FIRST) -> list[Outbound]:
        return await self._act(user, InboundKind.BUTTON, chat_id, button_data=button.data)

    async def say(
        self, user: str, text: str, chat_id: str = FIRST, **fields: str
    ) -> list[Outbound]:
        """Plain words in the staff channel (`reply_to` answers one of Haven's messages)."""
        return await self._act(user, InboundKind.TEXT, chat_id, text=text, **fields)

    async def dm(self, user: str, text: str, **fields: str) -> list[Outbound]:
        """A staff member writing in their own private chat with Haven."""
        before = len(self.adapter.sent[user])
        kind = InboundKind.COMMAND if text.startswith("/") else InboundKind.TEXT
        command, _, args = text[1:].partition(" ")
        typed = (
            {"command": command, "args": args} if kind is InboundKind.COMMAND else {"text": text}
        )
        inbound = Inbound(
            kind=kind,
            identity=Identity(PLATFORM, user, user),
            chat=ChatRef(PLATFORM, user, ChatKind.PRIVATE),
            received_at=datetime.now(UTC),
            message_id=f"d{next(_ids)}",
            **typed,
            **fields,
        )
        await self.haven.handle_and_deliver(inbound)
        return self.adapter.sent[user][before:]

    async def tick(self, delta: object) -> None:
        """Move the clock and let the timer do what fell due, then deliver."""
        self.clock.advance(delta)  # type: ignore[arg-type]
        await self.haven.scheduler.fire_due()
        await self.haven.sender.drain()


def buttons_of(message: Outbound) -> dict[str, Button]:
    return {b.data.split(":")[1]: b for row in message.buttons for b in row}


async def open_rig(
    data_dir: Path, clock: ManualClock, extra: str = "", base: str = STAFF_CONFIG
) -> Rig:
    adapter = MemoryAdapter(PLATFORM)
    haven = await Haven.open(staff_config(data_dir, extra, base), {PLATFORM: adapter}, clock)
    await haven.scheduler.rearm()  # as `haven run` does at start
    await haven.sender.drain()
    return Rig(haven, adapter, clock)
