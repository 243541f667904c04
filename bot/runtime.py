"""The composition root: builds the running system from the config.

This is the one module of `bot` that knows the adapters; everything else talks to them
through `bot.adapter.Adapter`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import hmac
import logging
import logging.handlers
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.console import PLATFORM as CONSOLE
from adapters.console import ConsoleAdapter, ConsoleSettings
from bot.adapter import Adapter, AdapterStartError, ElectedReceiver, JournaledIntake
from bot.clock import Clock, SystemClock
from bot.cluster.chat_locks import SessionChatLocks
from bot.cluster.duty_turns import DutyTurns
from bot.cluster.election import ReceiverElection
from bot.cluster.journal_watch import JournalWatch
from bot.cluster.wakeups import Wakeups
from bot.config import Config, Contact
from bot.content.deadlines import QuietHours
from bot.content.playbook import Playbook, Severity, load_playbook
from bot.content.prompts import Deployment, Prompts
from bot.conversation.evidence_pace import EvidenceBudget, EvidencePace
from bot.conversation.flood import FloodGuard
from bot.conversation.flow import Flow
from bot.conversation.intake_journal import IntakeJournal
from bot.conversation.signal_model import SignalModel, default_model
from bot.delivery.handover_files import HandoverFiles
from bot.delivery.outbox import OutboxSender, RetryPolicy, StaffNotice
from bot.delivery.ratelimit import RateBudget
from bot.delivery.web_records import WebRecords, web_push_key, web_secret
from bot.dispatch import Dispatcher, DispatchSettings
from bot.events import ChatKind, ChatRef, Inbound
from bot.evidence.erase_desk import EraseDesk
from bot.evidence.export import EXPORTS_DIR
from bot.evidence.export_desk import ExportDesk
from bot.evidence.intake import Evidence, EvidenceSettings
from bot.evidence.keyfiles import (
    PUBLIC_KEY_FILE,
    KeySetupError,
    log_origin,
    open_keyring,
    open_log_key,
    publish_public_key,
)
from bot.evidence.receipts import Receipts
from bot.evidence.report_desk import ReportDesk
from bot.evidence.retention import RetentionRounds
from bot.evidence.stamping import Stamper
from bot.evidence.store import Store, blob_store
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
from bot.staff.briefing import Briefer, next_occurrence
from bot.staff.desk import StaffDesk
from bot.staff.escalation import Escalator, Level
from bot.staff.progress_notes import ProgressNotes
from bot.staff.retrieval import RetrievalDesk
from bot.staff.talk import Talks
from bot.staff.texts import StaffTexts
from bot.staff.unanswered import UnansweredQuestions
from storage import ledger
from storage.blobs import Blobs
from storage.coordinator import Coordinator
from storage.data_dir import prepare_data_dir, private_file
from storage.database import Database
from storage.keys import KeyRing
from storage.secret_files import SecretFileError

if TYPE_CHECKING:
    from adapters.health import HealthServer
    from adapters.slack import SlackOptions
    from adapters.telegram import TelegramOptions
    from adapters.web import PushOptions, WebOptions

log = logging.getLogger(__name__)


class Background(Protocol):
    """Work an adapter needs run beside it until Haven stops (an election, a watch)."""

    async def run(self) -> None: ...


class StartupError(Exception):
    """Haven cannot start as configured; the message says why in one line."""


# When the adapters have closed (the console at the end of piped input), reminders due
# within this window are still sent, so a scripted run shows them; later ones wait for
# the next start.
END_OF_INPUT_WAIT = timedelta(seconds=60)
SWEEP_SECONDS = 30.0
SHARED_SWEEP_SECONDS = 5.0


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
    talks: Talks
    unanswered: UnansweredQuestions


def staff_side(
    config: Config,
    flow: Flow,
    store: Store,
    on_outbox: Callable[[], None],
    stamper: Stamper | None = None,
) -> StaffSide:
    playbook = flow.playbook
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
        origin=log_origin(config, store.log_key),
        stamper=stamper,
        retention_days=config.retention.closed_case_days,
    )
    retrievals = RetrievalDesk(
        store, words, timedelta(hours=config.retrieval.expires_hours), on_outbox
    )
    talks = Talks(store.db, store.keyring, words, escalator, flow, config.handoff, mask)
    desk = StaffDesk(
        store.db,
        store.keyring,
        store.clock,
        roster,
        words,
        escalator,
        briefer,
        retrievals,
        talks,
        on_outbox,
    )
    unanswered = UnansweredQuestions(
        store.db,
        escalator,
        timedelta(minutes=config.signals.unanswered_alert_minutes),
        staffed=len(roster) > 0,
    )
    return StaffSide(roster, escalator, briefer, retrievals, desk, progress, talks, unanswered)


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
    blobs: Blobs
    scheduler: ReminderScheduler
    staff: StaffSide
    journal: IntakeJournal
    coordinator: Coordinator | None = None
    stamper: Stamper | None = None

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
        db = Database.open(config.database_url, password=config.secrets.database_password)
        try:
            await db.migrate()
            keyring, log_key = await _open_keys(config, db)
        except Exception:
            await db.close()
            raise
        # Several instances may share a PostgreSQL database: their own session for
        # what must happen once among them (bot/cluster).
        coordinator = await Coordinator.open(db) if db.is_postgresql else None
        prompts = Prompts(playbook, deployment_of(config))
        flow = Flow(
            prompts,
            Severity(config.escalation.threshold),
            signal_model,
            ask_again_after=timedelta(hours=config.signals.ask_again_after_hours),
        )
        sender = OutboxSender(
            db,
            adapters,
            clock,
            StaffNotice(staff_channels(config), playbook.texts, config.default_locale),
            policy=retry_policy_of(config),
            budgets=rate_budgets_of(config),
            handover=HandoverFiles(config.data_dir / EXPORTS_DIR),
            chat_locks=SessionChatLocks(coordinator) if coordinator else None,
        )
        reminder_texts = ReminderTexts(playbook.texts, config.tz)
        limits = config.limits
        blobs = blob_store(db, config.data_dir)
        store = Store(config, db, blobs, keyring, log_key, clock)
        wakeups = Wakeups(coordinator, sender.wake, clock) if coordinator else None
        on_outbox = wakeups.outbox_queued if wakeups else sender.wake
        stamper = Stamper(db, config.evidence.tsa_urls, config.evidence.tsa_timeout_seconds, clock)
        staff = staff_side(config, flow, store, on_outbox, stamper)
        scheduler = ReminderScheduler(
            db,
            clock,
            reminder_policy,
            reminder_texts,
            on_outbox,
            # Retention before the briefing: the briefing at the same moment reports it.
            duties=(
                retention_rounds(config, store, coordinator),
                staff.escalator,
                staff.briefer,
                staff.talks,
                staff.unanswered,
                stamper,
            ),
            hold_in_talk=config.handoff.pause_reminders,
            # Rows another instance claimed and never committed (it died) are pending
            # again: found within seconds, not half a minute.
            sweep_seconds=SHARED_SWEEP_SECONDS if coordinator else SWEEP_SECONDS,
        )
        on_reminders = scheduler.arm
        if wakeups is not None:
            await wakeups.listen(scheduler.arm)
            on_reminders = wakeups.timers_set
        staff.talks.wake_reminders = on_reminders
        evidence = Evidence(
            db,
            prompts,
            Receipts(prompts, config.tz),
            blobs,
            keyring,
            EvidenceSettings(limits.max_item_bytes, limits.max_case_bytes),
            clock,
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
            ReportDesk(store, prompts),
            staff.talks,
            staff.unanswered,
            EvidencePace(
                clock,
                EvidenceBudget(limits.evidence_items_per_minute, limits.evidence_bytes_per_minute),
            ),
            on_outbox=on_outbox,
            on_reminders=on_reminders,
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
            IntakeJournal(db, keyring, clock, coordinator),
            coordinator,
            stamper,
        )

    async def handle_and_deliver(self, inbound: Inbound) -> None:
        """Handle one event and deliver its replies before the next (the console's rhythm)."""
        await self.dispatcher.handle(inbound)
        await self.sender.drain()

    async def close(self) -> None:
        await self.scheduler.stop()
        if self.stamper is not None:
            await self.stamper.settle()  # timestamps asked for: keep what came back
        await self.sender.settle()  # the "sent" marks still on their way
        if self.coordinator is not None:
            await self.coordinator.close()
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
        webhook_secret=shared_webhook_secret(config),
        rate_global_per_second=telegram.rate_global_per_second,
        rate_per_group_per_minute=telegram.rate_per_group_per_minute,
        max_download_bytes=telegram.max_download_bytes,
        group_notice=_group_notice(config),
    )


def shared_webhook_secret(config: Config) -> str:
    """With PostgreSQL several instances may serve one webhook URL, and Telegram keeps one
    secret token for it: each derives the same one from the bot token (HMAC, so the
    token cannot be read back from it). With SQLite: "" (a new one at every start)."""
    token = config.secrets.telegram_token
    if not token or not config.database_url.startswith("postgresql"):
        return ""
    digest = hmac.new(token.encode(), b"haven telegram webhook secret v1", hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


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


def web_options(config: Config) -> WebOptions:
    """The web chat's settings: `[adapters.web]`, the shared limits, and the secret that
    signs its cookies (created in the data directory on first use)."""
    from adapters.web import WebOptions

    web = config.adapters.web
    prepare_data_dir(config.data_dir)
    try:
        secret = web_secret(config.data_dir)
        push = web_push_options(config) if web.push else None
    except SecretFileError as exc:
        raise StartupError(str(exc)) from None
    return WebOptions(
        secret=secret,
        listen=web.listen,
        default_locale=config.default_locale,
        quick_exit_url=web.quick_exit_url,
        idle_minutes=web.idle_minutes,
        max_upload_bytes=config.limits.max_item_bytes,
        max_text_chars=config.limits.max_text_chars,
        trusted_proxies=frozenset(web.trusted_proxies),
        requests_per_minute=web.requests_per_minute,
        request_burst=web.request_burst,
        new_chats_per_hour=web.new_chats_per_hour,
        connections_per_address=web.connections_per_address,
        max_connections=web.max_connections,
        messages_per_minute=web.messages_per_minute,
        max_uploads=web.max_uploads,
        free_guesses=web.free_guesses,
        guess_backoff_seconds=web.guess_backoff_seconds,
        guess_backoff_cap_seconds=web.guess_backoff_cap_seconds,
        poll_seconds=web.poll_seconds,
        push=push,
    )


def web_push_options(config: Config) -> PushOptions:
    """Web Push for the web chat: the VAPID key (web-push.key in the data directory,
    created on first start) and the operator's contact."""
    from adapters.web import PushOptions

    web = config.adapters.web
    return PushOptions(
        private_key=web_push_key(config.data_dir),
        contact=web.push_contact,
        http_origins=frozenset(origin.lower() for origin in web.push_http_origins),
    )


def retention_rounds(
    config: Config, store: Store, coordinator: Coordinator | None
) -> RetentionRounds:
    """Daily at the briefing's local time, whether or not briefings are posted; on
    PostgreSQL, one instance at a time."""
    zone, at = config.tz, config.briefing.time_of_day
    next_round = partial(next_occurrence, at=at, zone=zone)
    if coordinator is None:
        return RetentionRounds(store, next_round)
    return RetentionRounds(store, next_round, DutyTurns(coordinator).turn)


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
    """Both keys, checked against the store; the log checked whole at its end; the log's
    public key published on the first start (``haven verify --key`` needs the file)."""
    try:
        keyring, log_key = await open_keyring(config, db), await open_log_key(config, db)
    except KeySetupError as exc:
        raise StartupError(str(exc)) from None
    await _check_log_length(db)
    if not (config.data_dir / PUBLIC_KEY_FILE).exists():
        publish_public_key(config, log_key)
    return keyring, log_key


async def _check_log_length(db: Database) -> None:
    """Refuse a log shorter than its own leaf hashes or a head it signed: its newest
    leaves were deleted, and every new entry would be appended where they were."""
    async with db.transaction() as conn:
        stored, known = await ledger.tree_size(conn), await ledger.known_size(conn)
    if stored < known:
        raise StartupError(
            f"the evidence log holds {stored} entries, but it had {known} (signed or "
            f"hashed): its newest entries were deleted; restore the database from a "
            "backup and run `haven audit verify`"
        )


def build_adapters(
    config: Config,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    web_records: WebRecords | None = None,
) -> dict[str, Adapter]:
    """The enabled adapters, by platform name. A platform's library is imported only
    when its adapter is enabled: python-telegram-bot and slack-bolt take about 50 MB of
    memory between them, which a console or single-platform deployment does without.
    The web chat keeps its state through `web_records`, opened once the database is."""
    adapters: dict[str, Adapter] = {}
    for name in config.adapters.enabled:
        if name == "web":
            from adapters.web import WebAdapter

            adapters[name] = WebAdapter(web_options(config), web_records or WebRecords())
            continue
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


async def run(
    config: Config,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    clock: Clock | None = None,
    *,
    announce: Callable[[], None] | None = None,
) -> None:
    """Run until every adapter has closed (the console at end of input), or SIGTERM or
    SIGINT. Either signal stops the intake, lets the events in hand finish (those that do
    not are in the intake journal, resumed at the next start) and records every message
    sent as sent. ``announce`` is called once the database and the keys are open, before
    any adapter starts (`haven run` prints its start-up summary)."""
    web_records = WebRecords()
    adapters = build_adapters(config, stdin, stdout, web_records)
    haven = await Haven.open(config, adapters, clock)
    web_records.open(haven.db, haven.clock)
    if announce is not None:
        announce()
    freeze_startup_heap()
    await haven.sender.sweep_handover_files()
    sender_task: asyncio.Task[None] | None = None
    background: list[asyncio.Task[None]] = []
    started = asyncio.Event()
    health = await _serve_health(config, haven, started)
    terminated = asyncio.Event()
    _on_terminate(terminated.set)
    try:
        await haven.scheduler.start()
        # Approved before a crash and never handed over: deliver now.
        await haven.staff.retrievals.deliver_approved()
        for name, adapter in adapters.items():
            for duty in await _start_adapter(haven, name, adapter):
                background.append(asyncio.create_task(duty.run()))
        # Only now: a message sent before its adapter was ready would fail and spend an
        # attempt ("not initialized").
        sender_task = asyncio.create_task(haven.sender.run())
        started.set()
        if await _closed_or_terminated(adapters, terminated):
            await haven.scheduler.settle(END_OF_INPUT_WAIT)
            await haven.sender.drain()
        else:
            log.info("stopping on SIGTERM")
    finally:
        _on_terminate(None)
        for task in (*background, *([sender_task] if sender_task else [])):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for adapter in adapters.values():
            await adapter.stop()
        if health is not None:
            await health.stop()
        await haven.close()


def _on_terminate(action: Callable[[], None] | None) -> None:
    """Run `action` on SIGTERM (systemd, docker stop); None puts the default back. Only
    the main thread can have signal handlers: elsewhere (tests) nothing changes."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
        if action is None:
            loop.remove_signal_handler(signal.SIGTERM)
        else:
            loop.add_signal_handler(signal.SIGTERM, action)


async def _closed_or_terminated(adapters: dict[str, Adapter], terminated: asyncio.Event) -> bool:
    """True when every adapter closed by itself, False on SIGTERM."""
    closed: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(adapter.wait_closed() for adapter in adapters.values()))
    )
    signalled: asyncio.Future[Any] = asyncio.ensure_future(terminated.wait())
    try:
        await asyncio.wait({closed, signalled}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (closed, signalled):
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
    return closed.done() and not closed.cancelled() and not terminated.is_set()


async def _serve_health(
    config: Config, haven: Haven, started: asyncio.Event
) -> HealthServer | None:
    """/healthz and /readyz on [health] listen (adapters/health.py), before anything else
    starts: a load balancer sees the instance alive but not ready until it is."""
    if not config.health.listen:
        return None
    # Imported when configured, as the platform adapters are: aiohttp is not otherwise
    # loaded by a console deployment, whose start-up time people wait through.
    from adapters.health import HealthServer

    host, _, port = config.health.listen.rpartition(":")
    server = HealthServer(
        host.removeprefix("[").removesuffix("]"), int(port), lambda: readiness(haven, started)
    )
    await server.start()
    return server


async def readiness(haven: Haven, started: asyncio.Event) -> dict[str, bool]:
    """Ready: the database answers, its schema is this version's, every adapter started,
    and with several instances, this one's coordination session is up."""
    try:
        at_head = await haven.db.at_head()
    except Exception:
        return {"database": False, "migrations": False, "adapters": started.is_set()}
    checks = {"database": True, "migrations": at_head, "adapters": started.is_set()}
    if haven.coordinator is not None:
        checks["coordination"] = haven.coordinator.alive
    return checks


def freeze_startup_heap() -> None:
    """What Haven builds at start lives as long as the process; the garbage collector is told.

    The content, the compiled statements, the imported libraries: each full collection would
    walk all of them again (about 0.15 s with this heap, measured with bench/journey.py), and
    every conversation waits meanwhile. ``gc.freeze()`` takes them out of the collector's
    sight for good; a collection first, so that no garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()


async def _start_adapter(haven: Haven, name: str, adapter: Adapter) -> list[Background]:
    """Start one adapter; what it needs run beside it while Haven runs. With several
    instances (PostgreSQL) one whose platform allows a single receiver only prepares to
    send, and gets an election to run; one with an intake journal gets a watch over the
    journal rows of instances that die."""
    # The console waits for each reply before reading on; chat platforms hand the event
    # over and let the outbox sender deliver in the background.
    console = isinstance(adapter, ConsoleAdapter)
    handler = haven.handle_and_deliver if console else haven.dispatcher.handle
    if isinstance(adapter, JournaledIntake):
        adapter.use_journal(haven.journal.keep)
    try:
        if not isinstance(adapter, ElectedReceiver):
            await adapter.start(handler)
            return []
        await adapter.prepare(handler)
        background: list[Background] = []
        if isinstance(adapter, JournaledIntake):
            # Events a stop or crash interrupted, before new ones are received.
            resumed = await haven.journal.resume(name, adapter.fetch_file, handler)
            if resumed:
                log.info("%s: resumed %d event(s) a stop interrupted", name, resumed)
            if haven.coordinator is not None:
                background.append(JournalWatch(haven.journal, name, adapter.fetch_file, handler))
        if haven.coordinator is not None and adapter.needs_election:
            return [*background, ReceiverElection(haven.coordinator, name, adapter)]
        await adapter.start_receiving()
    except AdapterStartError as exc:
        raise StartupError(str(exc)) from None
    return background


# Their DEBUG lines quote what goes over the wire: messages and evidence both ways,
# people's profiles, and python-telegram-bot's API address, which holds the bot token.
# --verbose is for Haven's own reasoning; it must not copy a victim's words into a file.
PLATFORM_LIBRARIES = ("telegram", "slack_sdk", "slack_bolt")


def configure_logging(data_dir: Path, verbose: bool) -> None:
    """Logs go to a file in the data directory, so they never interleave with the chat.
    The file is reopened when logrotate (or anyone) moves it away: no restart needed."""
    # Created 0600 first: the log names cases, staff and files.
    private_file(data_dir / "haven.log")
    handler = logging.handlers.WatchedFileHandler(data_dir / "haven.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiosqlite", "alembic", "sqlalchemy"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for library in PLATFORM_LIBRARIES:
        logging.getLogger(library).setLevel(logging.INFO)
