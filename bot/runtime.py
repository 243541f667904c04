"""The composition root: builds the running system from the config.

This is the one module of `bot` that knows the adapters; everything else talks to them
through `bot.adapter.Adapter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from adapters.console import PLATFORM as CONSOLE
from adapters.console import ConsoleAdapter, ConsoleSettings
from bot.adapter import Adapter
from bot.clock import Clock, SystemClock
from bot.config import Config, Contact
from bot.content import Playbook, Severity, load_playbook
from bot.dispatch import Dispatcher, DispatchSettings
from bot.events import ChatKind, ChatRef, Inbound
from bot.flood import FloodGuard
from bot.flow import Flow
from bot.outbox import OutboxSender
from bot.prompts import Deployment, Prompts
from storage.database import Database

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Haven cannot start as configured; the message says why in one line."""


def prepare_data_dir(path: Path) -> None:
    """Create the data directory if needed; refuse one Haven cannot write to."""
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise StartupError(f"cannot create the data directory {path}: {exc.strerror}") from exc
    if not path.is_dir():
        raise StartupError(f"the data directory {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(f"the data directory {path} is not writable")


def deployment_of(config: Config) -> Deployment:
    return Deployment(
        jurisdiction=config.jurisdiction,
        retention_days=config.retention.closed_case_days,
        emergency_lines=tuple(_contact_line(c) for c in config.support.emergency_numbers),
        hotline_lines=tuple(_contact_line(c) for c in config.support.hotlines),
    )


def _contact_line(contact: Contact) -> str:
    details = ", ".join(part for part in (contact.hours, contact.note) if part)
    return f"• {contact.name}: {contact.number}" + (f" ({details})" if details else "")


def staff_channels(config: Config) -> tuple[ChatRef, ...]:
    first_level = config.escalation.levels[0] if config.escalation.levels else None
    if first_level is None:
        return ()
    channels = []
    for channel in first_level.channels:
        platform, _, chat_id = channel.partition(":")
        channels.append(ChatRef(platform, chat_id, ChatKind.STAFF))
    return tuple(channels)


@dataclass
class Haven:
    """The core, assembled: database, flow engine, dispatcher and outbox sender."""

    config: Config
    db: Database
    playbook: Playbook
    flow: Flow
    dispatcher: Dispatcher
    sender: OutboxSender
    clock: Clock

    @classmethod
    async def open(
        cls,
        config: Config,
        adapters: dict[str, Adapter],
        clock: Clock | None = None,
        playbook: Playbook | None = None,
    ) -> Haven:
        clock = clock or SystemClock()
        playbook = playbook or load_playbook()
        prepare_data_dir(config.data_dir)
        db = Database.open(config.database_url)
        try:
            await db.migrate()
        except Exception:
            await db.close()
            raise
        prompts = Prompts(playbook, deployment_of(config))
        flow = Flow(prompts, Severity(config.escalation.threshold))
        sender = OutboxSender(db, adapters, clock)
        limits = config.limits
        dispatcher = Dispatcher(
            db,
            flow,
            clock,
            DispatchSettings(
                default_locale=config.default_locale,
                max_text_chars=limits.max_text_chars,
                staff_channels=staff_channels(config),
                staff_locale=config.default_locale,
            ),
            FloodGuard(
                clock, limits.flood_messages, timedelta(seconds=limits.flood_window_seconds)
            ),
            on_outbox=sender.wake,
        )
        return cls(config, db, playbook, flow, dispatcher, sender, clock)

    async def handle_and_deliver(self, inbound: Inbound) -> None:
        """Handle one event and deliver its replies before the next (the console's rhythm)."""
        await self.dispatcher.handle(inbound)
        await self.sender.drain()

    async def close(self) -> None:
        await self.db.close()


def build_adapters(
    config: Config, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    for name in config.adapters.enabled:
        if name != CONSOLE:
            raise StartupError(
                f"the {name} adapter is not part of this version of Haven yet; "
                'use adapters.enabled = ["console"]'
            )
        console = config.adapters.console
        settings = ConsoleSettings(
            victim_user=console.victim_user, staff_user=console.staff_user, color=console.color
        )
        adapters[CONSOLE] = ConsoleAdapter(settings, stdin=stdin, stdout=stdout)
    return adapters


async def run(
    config: Config,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock: Clock | None = None,
) -> None:
    """Run until every adapter has closed (the console at end of input) or interrupted."""
    adapters = build_adapters(config, stdin, stdout)
    haven = await Haven.open(config, adapters, clock)
    sender_task = asyncio.create_task(haven.sender.run())
    try:
        for adapter in adapters.values():
            await adapter.start(haven.handle_and_deliver)
        await asyncio.gather(*(adapter.wait_closed() for adapter in adapters.values()))
        await haven.sender.drain()
    finally:
        sender_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender_task
        for adapter in adapters.values():
            await adapter.stop()
        await haven.close()


def configure_logging(data_dir: Path, verbose: bool) -> None:
    """Logs go to a file in the data directory, so they never interleave with the chat."""
    handler = logging.FileHandler(data_dir / "haven.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiosqlite", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
