"""The Slack adapter: slack-bolt's AsyncApp in, `bot.events` values out, and back.

Victims talk to the bot in direct messages; the configured channels are the staff
channel; messages in any other channel are not read. Requests arrive over HTTP (events,
interactivity and the slash command all on `/slack/events`, served on the configured
address, 127.0.0.1:3000 by default) or over Socket Mode. In HTTP mode slack-bolt checks
every request's signature and timestamp before anything else: a forged or stale request
(older than five minutes) gets 401 and is not processed.

Slack redelivers an event it thinks was not acknowledged (`X-Slack-Retry-Num`); each
`event_id` is handled once per run, and after a restart the core's message log — keyed
by the message's `ts` — recognises the redelivery, so neither evidence nor a reply is
ever duplicated.

Platform objects never leave this module: payloads become `Inbound` values (see
`adapters.slack_inbound`), files become lazy `Attachment` handles fetched with files.info
and the bot token, and an `Outbound` becomes chat.postMessage / chat.update / the
files.getUploadURLExternal + files.completeUploadExternal upload (see
`adapters.slack_blocks` for the Block Kit). Sending is called by the outbox, which owns
pacing and retrying: every failure becomes a `DeliveryError` — with Slack's Retry-After on
429, permanent when Slack refused the message itself — and nothing is retried in here
(slack_sdk's own retry handlers are switched off).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.downloads import lazy, refuse_over
from adapters.handoff import STOP_GRACE_SECONDS, ChatOrder
from adapters.pieces import PieceProgress
from adapters.slack_blocks import ACTION_PREFIX, blocks_of, fallback_text, message_pieces
from adapters.slack_inbound import Payload, Person, Translator
from bot.adapter import AdapterStartError, DeliveryError, FileTooLarge, InboundHandler
from bot.events import Button, ChatKind, ChatRef, Outbound, OutboundFile

log = logging.getLogger(__name__)
# slack_sdk and slack-bolt build their DEBUG lines (request and response bodies) whenever
# their logger has no level of its own, testing `logger.level` rather than the effective
# level, and logging then drops them (about 4% of the CPU per event in bench/slack.py).
# Handed loggers at INFO, they skip that work (and could not log those bodies if asked).
_sdk_log = logging.getLogger(f"{__name__}.slack_sdk")
_sdk_log.setLevel(logging.INFO)
_bolt_log = logging.getLogger(f"{__name__}.slack_bolt")
_bolt_log.setLevel(logging.INFO)


class _WithoutBodies(logging.Filter):
    """slack-bolt writes whole request bodies into some lines it logs at INFO and WARNING
    (a request refused for its signature or timestamp, one no listener took): a victim's
    message would reach haven.log with every request refused after a secret rotation or
    with a skewed clock. The line stays; the body goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Invalid request signature detected"):
            record.msg = "slack: refused a request: bad signature or stale timestamp"
            record.args = ()
        elif "{" in message or "body" in message:
            record.msg = message.split("(", 1)[0].split("{", 1)[0].rstrip() + " (body left out)"
            record.args = ()
        return True


# slack-bolt copies its base logger's filters to each logger it makes for the app (its
# request verification among them), so this one reaches all of them.
_bolt_log.addFilter(_WithoutBodies())

PLATFORM = "slack"
Buttons = tuple[tuple[Button, ...], ...]
EVENTS_PATH = "/slack/events"
_EVENTS_KEPT = 10_000  # event ids remembered for recognising Slack's retries
_PEOPLE_KEPT = 4096
_DOWNLOAD_CHUNK = 64 * 1024
# Errors Slack answers with HTTP 200 that are worth trying again; any other refusal is
# about the message or the channel itself and would fail the same way every time.
_TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "account_inactive",
        "team_access_not_granted",
    }
)


@dataclass(frozen=True)
class SlackOptions:
    """What the adapter needs, built from `[adapters.slack]` and the environment."""

    bot_token: str = field(repr=False)
    signing_secret: str = field(default="", repr=False)
    app_token: str = field(default="", repr=False)
    mode: str = "http"
    listen: str = "127.0.0.1:3000"
    api_base_url: str = "https://slack.com/api/"
    staff_channels: frozenset[str] = frozenset()
    max_download_bytes: int = 20_000_000
    group_notice: str = ""
    max_in_flight: int = 64
    timeout_seconds: int = 30


class SlackAdapter:
    platform = PLATFORM
    uploads_files = True

    def __init__(self, options: SlackOptions) -> None:
        self.options = options
        self._translate = Translator(PLATFORM, options.staff_channels, lazy(self.fetch_file))
        self._order = ChatOrder(PLATFORM, options.max_in_flight)
        self._progress = PieceProgress()
        self._events: OrderedDict[str, None] = OrderedDict()
        self._people: OrderedDict[str, asyncio.Task[Person]] = OrderedDict()
        self._direct: dict[str, str] = {}  # user id → the bot's direct-message channel
        self._intake: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._auth: AuthorizeResult | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._closed = asyncio.Event()
        self.app: AsyncApp | None = None
        self.port = 0  # the port the HTTP endpoint is bound to, once started

    # ---- lifecycle ----------------------------------------------------------------

    def use_journal(self, journal: InboundHandler) -> None:
        """Each event is journaled before Slack gets its acknowledgement."""
        self._order.journal = journal

    async def start(self, handler: InboundHandler) -> None:
        await self.prepare(handler)
        await self.start_receiving()

    @property
    def needs_election(self) -> bool:
        """A Socket Mode app gets each event on one of its connections, so one instance
        holds it; HTTP requests reach any instance behind the load balancer."""
        return self.options.mode == "socket"

    async def prepare(self, handler: InboundHandler) -> None:
        """Ready to send (auth.test checked the token); not receiving yet."""
        self._order.handler = handler
        self._session = aiohttp.ClientSession()
        self._client = self._web_client(self.options.bot_token, self._session)
        try:
            # A wrong token fails here, at start-up, not at the first message.
            auth = await self._client.auth_test()
        except SlackApiError as exc:
            await self._session.close()
            raise AdapterStartError(f"slack: cannot start: {_error_code(exc)}") from exc
        except (aiohttp.ClientError, SlackClientError, TimeoutError) as exc:
            await self._session.close()
            raise AdapterStartError(
                f"slack: cannot reach {self.options.api_base_url} ({type(exc).__name__})"
            ) from exc
        self._auth = AuthorizeResult.from_auth_test_response(
            auth_test_response=auth, bot_token=self.options.bot_token
        )
        self.app = self._build_app()

    async def start_receiving(self) -> None:
        assert self.app is not None and self._client is not None, "prepare() first"
        if self.options.mode == "socket":
            await self._connect_socket(self.app, self._client)
        else:
            await self._serve_http()
        log.info("slack: receiving by %s", self.options.mode)

    async def stop_receiving(self) -> None:
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        log.info("slack: no longer receiving")

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        """Stop receiving, let what was acknowledged reach the core, then close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        await asyncio.gather(*self._intake, return_exceptions=True)
        await self._order.drain(STOP_GRACE_SECONDS)
        if self._session is not None:
            await self._session.close()
        self._closed.set()

    def _web_client(self, token: str | None, session: aiohttp.ClientSession) -> AsyncWebClient:
        return AsyncWebClient(
            token=token,
            base_url=self.options.api_base_url,
            session=session,
            timeout=self.options.timeout_seconds,
            logger=_sdk_log,
            retry_handlers=[],  # the outbox retries; a retry in here would be a second one
        )

    def _build_app(self) -> AsyncApp:
        assert self._session is not None and self._auth is not None
        authorized = self._auth

        async def authorize() -> AuthorizeResult:
            """The start-up auth.test, for every request: no API call on the way in."""
            return authorized

        app = AsyncApp(
            # bolt's own client carries no token: `authorize` hands it the bot's.
            client=self._web_client(None, self._session),
            signing_secret=self.options.signing_secret,
            authorize=authorize,
            logger=_bolt_log,
            # The HTTP 200 (or Socket Mode envelope) goes back once the listener has
            # handed the event over, and so journaled it: Slack must not count an event
            # delivered that a stop could still lose.
            process_before_response=True,
        )
        app.event("message")(self._on_message)
        app.command(re.compile(r"^/"))(self._on_command)
        app.action(re.compile(f"^{ACTION_PREFIX}-"))(self._on_action)
        return app

    async def _connect_socket(self, app: AsyncApp, client: AsyncWebClient) -> None:
        """Socket Mode: apps.connections.open with the app-level token, then a WebSocket
        that slack_sdk keeps open (and reopens) until `stop`.

        slack_sdk retries a failed connection forever, so the app token is tried once
        here first: a rejected one stops start-up instead of looping silently."""
        try:
            await client.apps_connections_open(app_token=self.options.app_token)
        except SlackApiError as exc:
            await self._abandon()
            raise AdapterStartError(f"slack: cannot open Socket Mode: {_error_code(exc)}") from exc
        except (aiohttp.ClientError, SlackClientError, TimeoutError) as exc:
            await self._abandon()
            raise AdapterStartError(
                f"slack: cannot open Socket Mode ({type(exc).__name__})"
            ) from exc
        self._socket = AsyncSocketModeHandler(app, self.options.app_token, web_client=client)
        await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def _abandon(self) -> None:
        """Release what a failed start had opened."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._session is not None:
            await self._session.close()

    async def _serve_http(self) -> None:
        server = web.Application()
        server.router.add_post(EVENTS_PATH, self._on_request)
        self._runner = web.AppRunner(server, access_log=None)
        await self._runner.setup()
        host, port = _host_and_port(self.options.listen)
        site = web.TCPSite(self._runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            await self._abandon()
            raise AdapterStartError(
                f"slack: cannot listen on {self.options.listen}: {exc.strerror}"
            ) from exc
        self.port = self._runner.addresses[0][1]

    async def _on_request(self, request: web.Request) -> web.Response:
        """slack-bolt verifies the signature and the timestamp, then dispatches."""
        assert self.app is not None
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # a body that is neither JSON nor a form, or not UTF-8
            log.info("slack: refused a malformed request body")
            return web.Response(status=400, text="malformed request")
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    @property
    def client(self) -> AsyncWebClient:
        if self._client is None:
            raise DeliveryError("slack: the adapter has not started")
        return self._client

    # ---- inbound ------------------------------------------------------------------

    async def _on_message(self, event: Payload, body: Payload) -> None:
        with self._tracked():
            if self._redelivered(str(body.get("event_id", ""))):
                return
            chat_kind = self._translate.chat_kind(
                str(event.get("channel", "")), str(event.get("channel_type", ""))
            )
            if chat_kind is ChatKind.GROUP:
                return  # not a channel of ours: nothing said there is read or kept
            author = self._translate.author(event)
            person = await self._person(author) if author else Person("")
            for inbound in self._translate.messages(event, person):
                await self._order.hand_over(inbound)

    async def _on_command(self, ack: AsyncAck, command: Payload) -> None:
        with self._tracked():
            channel = str(command.get("channel_id", ""))
            kind = self._translate.chat_kind(channel)
            if kind is ChatKind.GROUP:
                # Shown only to the person who typed it: victims belong in a direct message.
                await ack(text=self.options.group_notice)
                return
            await ack()
            user = str(command.get("user_id", ""))
            chat_id = channel if kind is ChatKind.STAFF else await self._direct_channel(user)
            person = await self._person(user, str(command.get("user_name", "")))
            inbound = self._translate.command(command, person, ChatRef(PLATFORM, chat_id, kind))
            await self._order.hand_over(inbound)

    async def _on_action(self, ack: AsyncAck, body: Payload, action: Payload) -> None:
        with self._tracked():
            await ack()  # at once, so the button stops spinning whatever happens next
            user = body.get("user") or {}
            person = await self._person(str(user.get("id", "")), str(user.get("name", "")))
            inbound = self._translate.button(body, action, person)
            if inbound is not None:
                await self._order.hand_over(inbound)

    def _tracked(self) -> _Tracked:
        return _Tracked(self._intake)

    def _redelivered(self, event_id: str) -> bool:
        """True for an event already taken in during this run (a Slack retry)."""
        if not event_id:
            return False
        if event_id in self._events:
            log.info("slack: redelivery of event %s ignored", event_id)
            return True
        self._events[event_id] = None
        while len(self._events) > _EVENTS_KEPT:
            self._events.popitem(last=False)
        return False

    async def _person(self, user_id: str, fallback_name: str = "") -> Person:
        """users.info, once per person while remembered; blank names if Slack is down."""
        known = self._people.get(user_id)
        if known is None:
            known = asyncio.ensure_future(self._look_up(user_id))
            self._people[user_id] = known
            while len(self._people) > _PEOPLE_KEPT:
                self._people.popitem(last=False)
        person = await known
        if not person.display_name and fallback_name:
            return Person(user_id, fallback_name, person.locale)
        return person

    async def _look_up(self, user_id: str) -> Person:
        try:
            answer = await self.client.users_info(user=user_id, include_locale=True)
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            log.info("slack: users.info failed (%s); going on without a name", type(exc).__name__)
            self._people.pop(user_id, None)  # ask again next time
            return Person(user_id)
        user = answer.get("user") or {}
        profile = user.get("profile") or {}
        name = profile.get("display_name") or profile.get("real_name") or user.get("name") or ""
        return Person(user_id, str(name), str(user.get("locale", "")))

    async def _direct_channel(self, user_id: str) -> str:
        """The bot's direct-message channel with a person (conversations.open, remembered);
        the user id itself when Slack cannot be asked now — `send` opens it later."""
        try:
            return await self._open_direct(user_id)
        except DeliveryError:
            return user_id

    async def _open_direct(self, user_id: str) -> str:
        known = self._direct.get(user_id)
        if known is not None:
            return known
        try:
            answer = await self.client.conversations_open(users=user_id)
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}") from exc
        channel = str((answer.get("channel") or {}).get("id", ""))
        self._direct[user_id] = channel
        return channel

    # ---- files --------------------------------------------------------------------

    async def fetch_file(self, file_id: str, size: int | None = None) -> bytes:
        """files.info, then the download with the bot token; never more than the limit."""
        limit = self.options.max_download_bytes
        refuse_over(size, limit)
        try:
            info = (await self.client.files_info(file=file_id)).get("file") or {}
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}") from exc
        declared = info.get("size")
        refuse_over(declared if isinstance(declared, int) else None, limit)
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        if not self._may_carry_token(url):
            raise DeliveryError("slack: the file has no Slack download address", permanent=True)
        return await self._download(url, limit)

    async def _download(self, url: str, limit: int) -> bytes:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self.options.bot_token}"}
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_seconds * 10)
        try:
            async with self._session.get(url, headers=headers, timeout=timeout) as response:
                if response.status != 200:
                    raise DeliveryError(
                        f"slack: file download answered {response.status}",
                        permanent=400 <= response.status < 500 and response.status != 429,
                    )
                data = bytearray()
                async for chunk in response.content.iter_chunked(_DOWNLOAD_CHUNK):
                    data += chunk
                    if len(data) > limit:
                        raise FileTooLarge(len(data), limit)
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack: file download failed ({type(exc).__name__})") from exc

    def _may_carry_token(self, url: str) -> bool:
        """The bot token goes only to Slack's own file hosts (or to the configured API
        host, which tests point at a fake), never to an address from anywhere else."""
        target = urlsplit(url)
        api = urlsplit(self.options.api_base_url)
        if target.scheme == api.scheme and target.netloc == api.netloc:
            return True
        host = target.hostname or ""
        return target.scheme == "https" and (host == "slack.com" or host.endswith(".slack.com"))

    # ---- outbound -----------------------------------------------------------------

    async def send(self, message: Outbound) -> str:
        """Deliver one outbox message; return "channel:ts" of the last Slack message sent,
        which is what chat.update needs to replace it later."""
        try:
            channel = await self._channel_of(message.chat.chat_id)
            return await self._send_pieces(channel, message)
        except SlackApiError as exc:
            raise _delivery_error(exc) from exc
        except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"slack unreachable: {type(exc).__name__}") from exc

    async def _channel_of(self, chat_id: str) -> str:
        """Channels are used as they are; a person (U…, W…) gets their direct message."""
        if chat_id[:1] in ("U", "W"):
            return await self._open_direct(chat_id)
        return chat_id

    async def _send_pieces(self, channel: str, message: Outbound) -> str:
        """Text beyond one message goes out in several, buttons under the last. A retry
        after a partial failure resumes at the first piece not yet delivered."""
        file = message.file
        pieces = message_pieces(message.text)
        comment_fits = file is not None and not message.buttons and len(pieces) == 1
        if comment_fits or (file is not None and not message.text):
            pieces = []
        key = (channel, message.text, message.edit_of)
        done, last_id = self._progress.resume(key, message.edit_of)
        for index in range(done, len(pieces)):
            buttons = message.buttons if index == len(pieces) - 1 else ()
            edit_of = message.edit_of if index == 0 else ""
            last_id = await self._post(channel, pieces[index], buttons, edit_of, message.reply_to)
            self._progress.delivered(key, index + 1, last_id)
        if file is not None:
            comment = message.text if comment_fits else ""
            last_id = await self._upload(channel, file, comment)
        self._progress.finished(key)
        return last_id

    async def _post(
        self, channel: str, sections: list[str], buttons: Buttons, edit_of: str, reply_to: str
    ) -> str:
        blocks = blocks_of(sections, buttons)
        text = fallback_text(sections)
        target = _message_ref(edit_of)
        if target is not None:
            edited_channel, ts = target
            await self.client.chat_update(channel=edited_channel, ts=ts, text=text, blocks=blocks)
            return edit_of
        # Into the thread of the message it answers, when that is in this channel.
        parent = _message_ref(reply_to)
        thread = parent[1] if parent is not None and parent[0] == channel else None
        sent = await self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread
        )
        return f"{sent['channel']}:{sent['ts']}"

    async def _upload(self, channel: str, file: OutboundFile, comment: str) -> str:
        data = await asyncio.to_thread(Path(file.path).read_bytes)
        sent = await self.client.files_upload_v2(
            channel=channel,
            file=data,
            filename=file.file_name,
            title=file.file_name,
            initial_comment=comment or None,
        )
        uploaded = (sent.get("files") or [{}])[0]
        return f"{channel}:file:{uploaded.get('id', '')}"


class _Tracked:
    """Keeps the running listener in `intake` while it runs: slack-bolt runs listeners
    after acknowledging, so `stop` waits for them or an acknowledged event could be lost."""

    def __init__(self, intake: set[asyncio.Task[Any]]) -> None:
        self.intake = intake
        self.task = asyncio.current_task()

    def __enter__(self) -> None:
        if self.task is not None:
            self.intake.add(self.task)

    def __exit__(self, *_exc: object) -> None:
        if self.task is not None:
            self.intake.discard(self.task)


def _delivery_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or getattr(response, "status", 0) or 0)
    headers = getattr(response, "headers", None) or {}
    code = _error_code(exc)
    if status == 429 or code == "ratelimited":
        retry_after = _header(headers, "Retry-After")
        return DeliveryError(f"slack rate limit: {code}", retry_after=retry_after or 1.0)
    if status >= 500 or code in _TRANSIENT_ERRORS:
        return DeliveryError(f"slack unavailable: {status} {code}".strip())
    return DeliveryError(f"slack refused: {code}", permanent=True)


def _error_code(exc: SlackApiError) -> str:
    response = exc.response
    try:
        return str(response.get("error") or "unknown_error")
    except (AttributeError, TypeError):
        return "unexpected_response"


def _header(headers: Any, name: str) -> float | None:
    for key, value in dict(headers).items():
        if str(key).lower() == name.lower():
            try:
                return float(value)
            except ValueError:
                return None
    return None


def _message_ref(message_id: str) -> tuple[str, str] | None:
    """The channel and ts in an id `send` returned; None for none or for a file."""
    channel, _, ts = message_id.partition(":")
    if not channel or not ts or ts.startswith("file:"):
        return None
    return channel, ts


def _host_and_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)
