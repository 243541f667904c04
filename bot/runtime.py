"""The composition root: builds the running system from the config.

This is the one module of `bot` that knows the adapters; everything else talks to them
through `bot.adapter.Adapter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.console import PLATFORM as CONSOLE
from adapters.console import ConsoleAdapter, ConsoleSettings
from bot.adapter import Adapter, AdapterStartError
from bot.clock import Clock, SystemClock
from bot.config import Config, Contact
from bot.content.deadlines import QuietHours
from bot.content.playbook import Playbook, Severity, load_playbook
from bot.content.prompts import Deployment, Prompts
from bot.conversation.flood import FloodGuard
from bot.conversation.flow import Flow
from bot.conversation.signal_model import SignalModel, default_model
from bot.delivery.handover_files import HandoverFiles
from bot.delivery.outbox import OutboxSender, RetryPolicy, StaffNotice
from bot.delivery.ratelimit import RateBudget
from bot.dispatch import Dispatcher, DispatchSettings
from bot.events import ChatKind, ChatRef, Inbound
from bot.evidence.erase_desk import EraseDesk
from bot.evidence.export import EXPORTS_DIR
from bot.evidence.export_desk import ExportDesk
from bot.evidence.intake import Evidence, EvidenceSettings
from bot.evidence.keyfiles import KeySetupError, open_keyring, open_log_key
from bot.evidence.receipts import Receipts
from bot.evidence.store import Store
from bot.evidence.timeline import Timelines
from bot.privacy.masking import mask
from bot.reminders.desk import ReminderDesk
from bot.reminders.planning import ReminderPolicy
from bot.reminders.scheduler import ReminderScheduler
from bot.reminders.texts import ReminderTexts
from bot.search.desk import SearchDesk
from bot.search.memo_desk import MemoDesk
from bot.search.searcher import Searcher
from bot.staff.access import Roster
from bot.staff.briefing import Briefer
from bot.staff.desk import StaffDesk
from bot.staff.escalation import Escalator, Level
from bot.staff.progress_notes import ProgressNotes
from bot.staff.retrieval import RetrievalDesk
from bot.staff.texts import StaffTexts
from bot.staff.unanswered import UnansweredQuestions
from storage.blobs import BlobStore
from storage.data_dir import BLOB_DIR, prepare_data_dir
from storage.database import Database
from storage.keys import KeyRing

if TYPE_CHECKING:
    from adapters.slack import SlackOptions
    from adapters.telegram import TelegramOptions

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Haven cannot start as configured; the message says why in one line."""


# When the adapters have closed (the console at the end of piped input), reminders due
# within this window are still sent, so a scripted run shows them; later ones wait for
# the next start.
END_OF_INPUT_WAIT = timedelta(seconds=60)


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


def _channel_refs(channels: list[str]) -> tuple[ChatRef, ...]:
    refs = []
    for channel in channels:
        platform, _, chat_id = channel.partition(":")
        refs.append(ChatRef(platform, chat_id, ChatKind.STAFF))
    return tuple(refs)


def staff_channels(config: Config) -> tuple[ChatRef, ...]:
    """The first escalation level's channels: where dead letters are reported."""
    return _channel_refs(config.escalation.levels[0].channels)


def escalation_levels(config: Config) -> tuple[Level, ...]:
    return tuple(
        Level(
            _channel_refs(level.channels),
            timedelta(minutes=level.timeout_minutes),
            timedelta(minutes=level.repeat_minutes),
        )
        for level in config.escalation.levels
    )


@dataclass(frozen=True)
class StaffSide:
    """The staff's half of Haven: escalations, briefings, commands and retrievals."""

    roster: Roster
    escalator: Escalator
    briefer: Briefer
    retrievals: RetrievalDesk
    desk: StaffDesk
    progress: ProgressNotes
    unanswered: UnansweredQuestions


def staff_side(
    config: Config, playbook: Playbook, store: Store, on_outbox: Callable[[], None]
) -> StaffSide:
    roster = Roster.from_config(config)
    words = StaffTexts(playbook.texts, config.default_locale, config.tz, roster, mask)
    escalator = Escalator(store.db, escalation_levels(config), words)
    progress = ProgressNotes(
        playbook.texts, config.default_locale, enabled=config.briefing.victim_progress_notes
    )
    briefer = Briefer(
        store.db,
        words,
        escalator.all_channels,
        store.log_key,
        config.briefing.time_of_day,
        progress,
        enabled=config.briefing.enabled,
    )
    retrievals = RetrievalDesk(
        store, words, timedelta(hours=config.retrieval.expires_hours), on_outbox
    )
    desk = StaffDesk(
        store.db, store.clock, roster, words, escalator, briefer, retrievals, on_outbox
    )
    unanswered = UnansweredQuestions(
        store.db,
        escalator,
        timedelta(minutes=config.signals.unanswered_alert_minutes),
        staffed=len(roster) > 0,
    )
    return StaffSide(roster, escalator, briefer, retrievals, desk, progress, unanswered)


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
    keyring: KeyRing
    log_key: Ed25519PrivateKey
    blobs: BlobStore
    scheduler: ReminderScheduler
    staff: StaffSide

    @classmethod
    async def open(
        cls,
        config: Config,
        adapters: dict[str, Adapter],
        clock: Clock | None = None,
        playbook: Playbook | None = None,
        signal_model: SignalModel | None = None,
    ) -> Haven:
        clock = clock or SystemClock()
        playbook = playbook or load_playbook()
        signal_model = signal_model or default_model()
        reminder_policy = reminder_policy_of(config, playbook)
        prepare_data_dir(config.data_dir)
        db = Database.open(config.database_url)
        try:
            await db.migrate()
            keyring, log_key = await _open_keys(config, db)
        except Exception:
            await db.close()
            raise
        prompts = Prompts(playbook, deployment_of(config))
        flow = Flow(prompts, Severity(config.escalation.threshold), signal_model)
        sender = OutboxSender(
            db,
            adapters,
            clock,
            StaffNotice(staff_channels(config), playbook.texts, config.default_locale),
            policy=retry_policy_of(config),
            budgets=rate_budgets_of(config),
            handover=HandoverFiles(config.data_dir / EXPORTS_DIR),
        )
        reminder_texts = ReminderTexts(playbook.texts, config.tz)
        limits = config.limits
        blobs = BlobStore(config.data_dir / BLOB_DIR)
        store = Store(config, db, blobs, keyring, log_key, clock)
        staff = staff_side(config, playbook, store, sender.wake)
        scheduler = ReminderScheduler(
            db,
            clock,
            reminder_policy,
            reminder_texts,
            sender.wake,
            duties=(staff.escalator, staff.briefer, staff.unanswered),
        )
        evidence = Evidence(
            db,
            prompts,
            Receipts(prompts, config.tz),
            blobs,
            keyring,
            EvidenceSettings(limits.max_item_bytes, limits.max_case_bytes),
        )
        dispatcher = Dispatcher(
            db,
            flow,
            clock,
            DispatchSettings(
                default_locale=config.default_locale,
                max_text_chars=limits.max_text_chars,
            ),
            FloodGuard(
                clock, limits.flood_messages, timedelta(seconds=limits.flood_window_seconds)
            ),
            evidence,
            ReminderDesk(reminder_policy, reminder_texts, config.default_locale),
            ExportDesk(store, prompts),
            EraseDesk(store, prompts),
            MemoDesk(prompts, keyring, config.tz, Timelines(playbook.texts, config.tz)),
            SearchDesk(db, Searcher(db, blobs, keyring, clock), prompts, config.tz),
            staff.escalator,
            staff.desk,
            staff.progress,
            staff.unanswered,
            on_outbox=sender.wake,
            on_reminders=scheduler.arm,
        )
        return cls(
            config,
            db,
            playbook,
            flow,
            dispatcher,
            sender,
            clock,
            keyring,
            log_key,
            blobs,
            scheduler,
            staff,
        )

    async def handle_and_deliver(self, inbound: Inbound) -> None:
        """Handle one event and deliver its replies before the next (the console's rhythm)."""
        await self.dispatcher.handle(inbound)
        await self.sender.drain()

    async def close(self) -> None:
        await self.scheduler.stop()
        await self.sender.settle()  # the "sent" marks still on their way
        await self.db.close()


def _group_notice(config: Config, key: str = "ui.group_only_private") -> str:
    """The explanation for people who talk to Haven outside a private chat, in both
    languages, the default one first."""
    texts = load_playbook().texts
    locales = (
        config.default_locale,
        *(loc for loc in ("zh-CN", "en") if loc != config.default_locale),
    )
    return "\n\n".join(texts.get(loc, key) for loc in locales)


def telegram_options(config: Config) -> TelegramOptions:
    """The Telegram adapter's settings: `[adapters.telegram]`, the token from the
    environment, and the one-time explanation for groups in both languages."""
    from adapters.telegram import TelegramOptions

    telegram = config.adapters.telegram
    return TelegramOptions(
        token=config.secrets.telegram_token or "",
        staff_chat_ids=frozenset(telegram.staff_chat_ids),
        mode=telegram.mode,
        api_base_url=telegram.api_base_url,
        file_base_url=telegram.file_base_url,
        webhook_listen=telegram.webhook_listen,
        webhook_url=telegram.webhook_url,
        rate_global_per_second=telegram.rate_global_per_second,
        rate_per_group_per_minute=telegram.rate_per_group_per_minute,
        max_download_bytes=telegram.max_download_bytes,
        group_notice=_group_notice(config),
    )


def slack_options(config: Config) -> SlackOptions:
    """The Slack adapter's settings: `[adapters.slack]`, the tokens from the environment,
    files limited to the per-item evidence limit, and the explanation for other channels."""
    from adapters.slack import SlackOptions

    slack = config.adapters.slack
    secrets = config.secrets
    return SlackOptions(
        bot_token=secrets.slack_bot_token or "",
        signing_secret=secrets.slack_signing_secret or "",
        app_token=secrets.slack_app_token or "",
        mode=slack.mode,
        listen=slack.listen,
        api_base_url=str(slack.api_base_url),
        staff_channels=frozenset(slack.staff_channels),
        max_download_bytes=config.limits.max_item_bytes,
        group_notice=_group_notice(config, "ui.slack_channel_only_dm"),
    )


def reminder_policy_of(config: Config, playbook: Playbook) -> ReminderPolicy:
    settings = config.reminders
    quiet = QuietHours(settings.quiet_start, settings.quiet_end, settings.quiet_hours_enabled)
    try:
        return ReminderPolicy.build(
            playbook,
            zone=config.tz,
            quiet=quiet,
            overrides=config.deadlines,
            delay_factor=settings.delay_factor,
        )
    except ValueError as exc:
        raise StartupError(str(exc)) from None


def retry_policy_of(config: Config) -> RetryPolicy:
    settings = config.outbox
    return RetryPolicy(
        settings.attempts, settings.backoff_base_seconds, settings.backoff_cap_seconds
    )


def rate_budgets_of(config: Config) -> dict[str, RateBudget]:
    """Each platform's published limits, from [adapters.*]; the console has none."""
    telegram, slack = config.adapters.telegram, config.adapters.slack
    return {
        "telegram": RateBudget(
            global_per_second=telegram.rate_global_per_second,
            per_chat_per_second=telegram.rate_per_chat_per_second,
            per_group_per_minute=telegram.rate_per_group_per_minute,
        ),
        # Slack's limit is per channel and second, staff channels too: a budget per
        # minute would let a burst of sixty through.
        "slack": RateBudget(per_chat_per_second=slack.rate_per_channel_per_second),
    }


async def _open_keys(config: Config, db: Database) -> tuple[KeyRing, Ed25519PrivateKey]:
    try:
        return await open_keyring(config, db), await open_log_key(config, db)
    except KeySetupError as exc:
        raise StartupError(str(exc)) from None


def build_adapters(
    config: Config, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> dict[str, Adapter]:
    """The enabled adapters, by platform name. A platform's library is imported only
    when its adapter is enabled: python-telegram-bot and slack-bolt take about 50 MB of
    memory between them, which a console or single-platform deployment does without."""
    adapters: dict[str, Adapter] = {}
    for name in config.adapters.enabled:
        if name == "telegram":
            from adapters.telegram import TelegramAdapter

            adapters[name] = TelegramAdapter(telegram_options(config))
            continue
        if name == "slack":
            from adapters.slack import SlackAdapter

            adapters[name] = SlackAdapter(slack_options(config))
            continue
        console = config.adapters.console
        settings = ConsoleSettings(
            victim_user=console.victim_user,
            staff_user=console.staff_user,
            color=console.color,
            timezone=config.timezone,
        )
        adapters[CONSOLE] = ConsoleAdapter(settings, stdin=stdin, stdout=stdout)
    return adapters


def startup_warnings(config: Config) -> list[str]:
    """What an operator should fix, though Haven can run without it."""
    if config.support.hotlines:
        return []
    return [
        "no support line is set ([support] hotlines): a person who writes about ending "
        "their life is shown the emergency numbers only. config.example.toml lists public "
        "national lines to confirm before you add them."
    ]


async def run(
    config: Config,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock: Clock | None = None,
) -> None:
    """Run until every adapter has closed (the console at end of input) or interrupted."""
    adapters = build_adapters(config, stdin, stdout)
    haven = await Haven.open(config, adapters, clock)
    for warning in startup_warnings(config):
        log.warning(warning)
        print(f"haven: warning: {warning}", file=sys.stderr)
    freeze_startup_heap()
    await haven.sender.sweep_handover_files()
    sender_task = asyncio.create_task(haven.sender.run())
    try:
        await haven.scheduler.start()
        # Approved before a crash and never handed over: deliver now.
        await haven.staff.retrievals.deliver_approved()
        for adapter in adapters.values():
            # The console waits for each reply before reading on; chat platforms hand the
            # event over and let the outbox sender deliver in the background.
            console = isinstance(adapter, ConsoleAdapter)
            handler = haven.handle_and_deliver if console else haven.dispatcher.handle
            try:
                await adapter.start(handler)
            except AdapterStartError as exc:
                raise StartupError(str(exc)) from None
        await asyncio.gather(*(adapter.wait_closed() for adapter in adapters.values()))
        await haven.scheduler.settle(END_OF_INPUT_WAIT)
        await haven.sender.drain()
    finally:
        sender_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender_task
        for adapter in adapters.values():
            await adapter.stop()
        await haven.close()


def freeze_startup_heap() -> None:
    """What Haven builds at start lives as long as the process; the garbage collector is told.

    The content, the compiled statements, the imported libraries: each full collection would
    walk all of them again (about 0.15 s with this heap, measured with bench/journey.py), and
    every conversation waits meanwhile. ``gc.freeze()`` takes them out of the collector's
    sight for good; a collection first, so that no garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()


# Their DEBUG lines quote what goes over the wire: messages and evidence both ways,
# people's profiles, and python-telegram-bot's API address, which holds the bot token.
# --verbose is for Haven's own reasoning; it must not copy a victim's words into a file.
PLATFORM_LIBRARIES = ("telegram", "slack_sdk", "slack_bolt")


def configure_logging(data_dir: Path, verbose: bool) -> None:
    """Logs go to a file in the data directory, so they never interleave with the chat."""
    handler = logging.FileHandler(data_dir / "haven.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiosqlite", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for library in PLATFORM_LIBRARIES:
        logging.getLogger(library).setLevel(logging.INFO)
