"""The Telegram adapter: python-telegram-bot in, `bot.events` values out, and back.

Victims talk to the bot in private chats; the configured staff groups are the staff
channel; any other group gets one polite explanation and is otherwise ignored, so nothing
a victim says there reaches a case. Updates arrive by long polling (default) or by a
webhook served in `adapters.telegram_webhook`, which checks the secret token on every
request and answers Telegram only once the update was taken in.

Platform objects never leave this module: an update becomes an `Inbound` (see
`adapters.telegram_inbound`), files become lazy `Attachment` handles fetched with getFile,
and an `Outbound` becomes sendMessage / editMessageText / sendDocument calls.

Updates reach the core in the order Telegram numbered them within each chat, so a
victim's messages are handled in the order sent; different chats are handled side by
side. Sending is called by the outbox,
which owns pacing and retrying: every failure becomes a `DeliveryError` — with Telegram's
retry_after when it asked us to wait, marked permanent when Telegram refused the message
itself — and nothing is retried in here. python-telegram-bot's AIORateLimiter stays
underneath as a safety net for calls the outbox does not pace (the pieces of a split
text, button answers, the group explanation).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes, TypeHandler

from adapters.downloads import lazy, refuse_over
from adapters.handoff import STOP_GRACE_SECONDS, ChatOrder
from adapters.pieces import PieceProgress
from adapters.telegram_confirm import ConfirmGate, ConfirmingBot
from adapters.telegram_http import AiohttpRequest
from adapters.telegram_inbound import Translator
from adapters.telegram_webhook import TAKE_IN_SECONDS, WebhookServer
from adapters.text_split import split_text
from bot.adapter import AdapterStartError, DeliveryError, FileTooLarge, InboundHandler
from bot.events import ChatKind, Inbound, Outbound

log = logging.getLogger(__name__)

PLATFORM = "telegram"
MESSAGE_LIMIT = 4096  # characters of a text message, after entity parsing
CAPTION_LIMIT = 1024
CLOUD_DOWNLOAD_LIMIT = 20_000_000  # getFile on api.telegram.org refuses bigger files
ALBUM_MAX = 10  # items in one media group
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class TelegramOptions:
    """What the adapter needs, built from `[adapters.telegram]` and the environment.

    A rate of None turns that limit off (tests and benchmarks against a local fake).
    """

    token: str = field(repr=False)
    staff_chat_ids: frozenset[int] = frozenset()
    mode: str = "polling"
    api_base_url: str = "https://api.telegram.org/bot"
    file_base_url: str = "https://api.telegram.org/file/bot"
    webhook_listen: str = "127.0.0.1:8443"
    webhook_url: str = ""
    # "" draws a new secret at each start; several instances behind one URL share one.
    webhook_secret: str = field(default="", repr=False)
    # A webhook update not taken in within this long is answered 503 (Telegram retries).
    webhook_take_in_seconds: float = TAKE_IN_SECONDS
    rate_global_per_second: float | None = 30
    rate_per_group_per_minute: float | None = 20
    max_download_bytes: int = CLOUD_DOWNLOAD_LIMIT
    group_notice: str = ""
    album_wait_seconds: float = 1.0
    max_in_flight: int = 64
    poll_timeout_seconds: int = 10


@dataclass
class _Album:
    """Messages of one media group seen so far; Telegram sends an album as one message per
    item, with no count and no end marker, so a short quiet period ends it."""

    group_id: str
    messages: list[Message]
    update_ids: list[int]
    timer: asyncio.Task[None] | None = None


class TelegramAdapter:
    platform = PLATFORM
    uploads_files = True

    def __init__(self, options: TelegramOptions) -> None:
        self.options = options
        self._gate = ConfirmGate()
        self.app = _build_application(options, self._gate)
        self._translate = Translator(PLATFORM, options.staff_chat_ids, lazy(self.fetch_file))
        self._order = ChatOrder(PLATFORM, options.max_in_flight)
        self._albums: dict[int, _Album] = {}
        self._told_groups: set[int] = set()
        self._progress = PieceProgress()
        self._closed = asyncio.Event()
        self.webhook_secret = ""
        self._webhook: WebhookServer | None = None

    # ---- lifecycle ----------------------------------------------------------------

    def use_journal(self, journal: InboundHandler) -> None:
        """Each event is journaled before its update is confirmed to Telegram."""
        self._order.journal = journal

    async def start(self, handler: InboundHandler) -> None:
        await self.prepare(handler)
        await self.start_receiving()

    @property
    def needs_election(self) -> bool:
        """getUpdates has one consumer per bot; webhooks reach any instance."""
        return self.options.mode == "polling"

    async def prepare(self, handler: InboundHandler) -> None:
        """Ready to send (getMe checked the token); not receiving yet."""
        self._order.handler = handler
        self.app.add_handler(TypeHandler(Update, self._on_update))
        try:
            await self.app.initialize()  # getMe: a wrong token fails here, at start-up
        except TelegramError as exc:
            raise AdapterStartError(f"telegram: cannot start: {exc.message}") from exc
        self._translate.bot_username = self.app.bot.username
        await self.app.start()

    async def start_receiving(self) -> None:
        if self.options.mode == "webhook":
            await self._start_webhook()
        else:
            updater = self.app.updater
            assert updater is not None  # the builder always makes one
            await updater.start_polling(
                poll_interval=0,
                timeout=timedelta(seconds=self.options.poll_timeout_seconds),
                allowed_updates=ALLOWED_UPDATES,
            )
        log.info("telegram: @%s receiving by %s", self.app.bot.username, self.options.mode)

    async def _start_webhook(self) -> None:
        # A fresh secret per start: setWebhook hands it to Telegram, so nobody has to
        # configure it, and one leaked from an old run is worthless. Several instances
        # behind one URL share one instead (given in the options).
        self.webhook_secret = self.options.webhook_secret or secrets.token_urlsafe(32)
        server = WebhookServer(
            self.app.update_queue,
            self.app.bot,
            self._gate,
            urlsplit(self.options.webhook_url).path,
            self.webhook_secret,
            self.options.webhook_take_in_seconds,
        )
        host, port = _host_and_port(self.options.webhook_listen)
        try:
            await server.start(host, port)
        except OSError as exc:
            raise AdapterStartError(
                f"telegram: cannot listen on {self.options.webhook_listen}: {exc.strerror}"
            ) from exc
        self._webhook = server
        try:
            await self.app.bot.set_webhook(
                self.options.webhook_url,
                secret_token=self.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        except TelegramError as exc:
            await self._stop_updates()
            raise AdapterStartError(f"telegram: setWebhook failed: {exc.message}") from exc

    async def stop_receiving(self) -> None:
        await self._stop_updates()
        log.info("telegram: no longer receiving")

    async def _stop_updates(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        webhook, self._webhook = self._webhook, None
        if webhook is not None:
            await webhook.stop()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        """Stop receiving, hand over albums still being collected, then close."""
        await self._stop_updates()
        for chat_id in list(self._albums):
            await self._flush_album(chat_id)
        await self._order.drain(STOP_GRACE_SECONDS)
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        self._closed.set()

    # ---- inbound ------------------------------------------------------------------

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        held = False
        try:
            if update.callback_query is not None:
                await self._on_button(update)
            elif update.message is not None:
                held = await self._on_message(update.message, update.update_id)
            elif update.edited_message is not None:
                await self._on_edit(update.edited_message)
            elif update.my_chat_member is not None:
                await self._on_membership(update)
        finally:
            # Taken in (or set aside): Telegram may be told. An album's items wait for it.
            if not held:
                self._gate.taken((update.update_id,))

    async def _on_button(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        try:
            # Answered at once, whatever happens next, so the button stops spinning.
            await query.answer()
        except TelegramError as exc:
            log.info("telegram: callback query not answered: %s", exc)
        inbound = self._translate.button(query)
        if inbound is not None:
            await self._hand_over(inbound)

    async def _on_message(self, message: Message, update_id: int) -> bool:
        """Take in one message; True while it waits in an album being collected."""
        kind = self._translate.chat_kind(message.chat)
        if kind is ChatKind.GROUP:
            await self._explain_to_group(message.chat_id)
            return False
        if kind is None or not self._translate.addressed_to_us(message):
            return False
        chat_id = message.chat_id
        pending = self._albums.get(chat_id)
        if pending is not None and pending.group_id != message.media_group_id:
            await self._flush_album(chat_id)
        if message.media_group_id:
            if self._collect(message, message.media_group_id, update_id) == ALBUM_MAX:
                await self._flush_album(chat_id)  # no album is longer: no need to wait
                return False
            return True
        inbound = self._translate.message(message)
        if inbound is not None:
            await self._hand_over(inbound)
        return False

    async def _on_edit(self, message: Message) -> None:
        if self._translate.chat_kind(message.chat) not in (ChatKind.PRIVATE, ChatKind.STAFF):
            return
        await self._flush_album(message.chat_id)  # the edit must not overtake the original
        inbound = self._translate.edit(message)
        if inbound is not None:
            await self._hand_over(inbound)

    async def _on_membership(self, update: Update) -> None:
        change = update.my_chat_member
        assert change is not None
        joined = change.new_chat_member.status in (
            ChatMemberStatus.MEMBER,
            ChatMemberStatus.ADMINISTRATOR,
        )
        if joined and self._translate.chat_kind(change.chat) is ChatKind.GROUP:
            await self._explain_to_group(change.chat.id)

    async def _hand_over(self, inbound: Inbound) -> None:
        """Queue an event for the core: in order within its chat, chats side by side."""
        await self._order.hand_over(inbound)

    async def _explain_to_group(self, chat_id: int) -> None:
        """Once per group: Haven only helps in private chats and does not read groups."""
        if chat_id in self._told_groups or not self.options.group_notice:
            return
        self._told_groups.add(chat_id)
        try:
            await self.app.bot.send_message(chat_id, self.options.group_notice)
        except TelegramError as exc:
            log.info("telegram: could not explain to a group: %s", exc)

    # ---- albums -------------------------------------------------------------------

    def _collect(self, message: Message, group_id: str, update_id: int) -> int:
        """Add one item; return how many the album now has."""
        album = self._albums.setdefault(message.chat_id, _Album(group_id, [], []))
        album.messages.append(message)
        album.update_ids.append(update_id)
        if album.timer is not None:
            album.timer.cancel()
        album.timer = asyncio.create_task(self._album_quiet(message.chat_id))
        return len(album.messages)

    async def _album_quiet(self, chat_id: int) -> None:
        await asyncio.sleep(self.options.album_wait_seconds)
        await self._flush_album(chat_id)

    async def _flush_album(self, chat_id: int) -> None:
        album = self._albums.pop(chat_id, None)
        if album is None:
            return
        if album.timer is not None and album.timer is not asyncio.current_task():
            album.timer.cancel()
        try:
            inbound = self._translate.album(album.messages)
            if inbound is not None:
                await self._hand_over(inbound)
        finally:
            self._gate.taken(album.update_ids)

    # ---- files --------------------------------------------------------------------

    async def fetch_file(self, file_id: str, size: int | None = None) -> bytes:
        """getFile, then download; refuse what the Bot API server will not hand out."""
        limit = self.options.max_download_bytes
        refuse_over(size, limit)
        try:
            handle = await self.app.bot.get_file(file_id)
            refuse_over(handle.file_size, limit)
            return bytes(await handle.download_as_bytearray())
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise FileTooLarge(size, limit) from exc
            raise DeliveryError(f"telegram getFile failed: {exc.message}", permanent=True) from exc
        except TelegramError as exc:
            raise DeliveryError(f"telegram download failed: {exc.message}") from exc

    # ---- outbound -----------------------------------------------------------------

    async def send(self, message: Outbound) -> str:
        """Deliver one outbox message; return the id of the last Telegram message sent."""
        chat_id = _chat_id(message.chat.chat_id)
        try:
            return await self._send_pieces(chat_id, message)
        except RetryAfter as exc:
            seconds = exc._retry_after.total_seconds()  # the public attribute warns in v22
            raise DeliveryError(str(exc), retry_after=seconds) from exc
        except ChatMigrated as exc:
            log.error(
                "telegram: chat %s became supergroup %s; update the configuration",
                chat_id,
                exc.new_chat_id,
            )
            raise DeliveryError(str(exc), permanent=True) from exc
        except (BadRequest, Forbidden) as exc:
            # Blocked by the user, chat gone, message malformed: trying again cannot help.
            raise DeliveryError(f"telegram refused: {exc.message}", permanent=True) from exc
        except TelegramError as exc:  # network errors, time-outs, 5xx, a revoked token
            raise DeliveryError(f"telegram unreachable: {exc.message}") from exc

    async def _send_pieces(self, chat_id: int, message: Outbound) -> str:
        """Text beyond the limit goes out in several messages, buttons under the last.
        A retry after a partial failure resumes at the first piece not yet delivered."""
        file = message.file
        caption_fits = file is not None and len(message.text) <= CAPTION_LIMIT
        pieces = [] if caption_fits else split_text(message.text, MESSAGE_LIMIT)
        if file is None and not pieces:
            pieces = [""]
        key = (chat_id, message.text, message.edit_of)
        done, last_id = self._progress.resume(key, message.edit_of)
        markup = _keyboard(message)
        for index in range(done, len(pieces)):
            buttons = markup if index == len(pieces) - 1 and file is None else None
            last_id = await self._send_text(chat_id, pieces[index], buttons, message, index)
            self._progress.delivered(key, index + 1, last_id)
        if file is not None:
            caption = message.text if caption_fits else None
            last_id = await self._send_file(chat_id, file.path, file.file_name, caption, markup)
        self._progress.finished(key)
        return last_id

    async def _send_text(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None,
        message: Outbound,
        index: int,
    ) -> str:
        bot = self.app.bot
        if index == 0 and message.edit_of:
            try:
                await bot.edit_message_text(
                    text, chat_id=chat_id, message_id=int(message.edit_of), reply_markup=markup
                )
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    raise
            return message.edit_of
        sent = await bot.send_message(
            chat_id, text, reply_markup=markup, reply_parameters=_answering(message, index)
        )
        return str(sent.message_id)

    async def _send_file(
        self,
        chat_id: int,
        path: str,
        file_name: str,
        caption: str | None,
        markup: InlineKeyboardMarkup | None,
    ) -> str:
        data = await asyncio.to_thread(Path(path).read_bytes)
        sent = await self.app.bot.send_document(
            chat_id, data, filename=file_name, caption=caption, reply_markup=markup
        )
        return str(sent.message_id)


def _build_application(options: TelegramOptions, gate: ConfirmGate) -> TelegramApp:
    bot = ConfirmingBot(
        options.token,
        base_url=options.api_base_url,
        base_file_url=options.file_base_url,
        request=AiohttpRequest(),
        # One connection, as python-telegram-bot's own default: one long poll at a time.
        get_updates_request=AiohttpRequest(connection_pool_size=1),
        rate_limiter=_rate_limiter(options),
        gate=gate,
    )
    return ApplicationBuilder().bot(bot).build()


def _rate_limiter(options: TelegramOptions) -> AIORateLimiter | None:
    overall = options.rate_global_per_second
    group = options.rate_per_group_per_minute
    if overall is None and group is None:
        return None
    # max_retries stays 0: a RetryAfter goes back to the outbox, which owns retrying.
    return AIORateLimiter(
        overall_max_rate=overall or 0, group_max_rate=group or 0, group_time_period=60
    )


def _keyboard(message: Outbound) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button.label, callback_data=button.data) for button in row]
            for row in message.buttons
        ]
    )


def _answering(message: Outbound, index: int) -> ReplyParameters | None:
    """A reply to the message it answers (a victim's words under their case's alert), for
    the first piece; sent on its own if that message is gone."""
    if index or not message.reply_to.isdigit():
        return None
    return ReplyParameters(int(message.reply_to), allow_sending_without_reply=True)


def _chat_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DeliveryError(f"not a Telegram chat id: {text[:40]!r}") from None


def _host_and_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)
