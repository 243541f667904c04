"""The web chat adapter: one page served by Haven on aiohttp, for people who cannot reach
Telegram or Slack (mainland China, WeChat's in-app browser).

Delivering to the web is posting to the chat's mailbox (adapters/web/records.py) and
waking its open pages: `send` succeeds whether or not the person is connected, and the
page shows what came while it was closed as soon as it is opened again. A reminder that
fires at night is therefore never a failed delivery, and never lost.

Every response carries a strict Content-Security-Policy (nothing inline, nothing from
anywhere else), and the other headers that keep the page out of frames, caches and
referrers. See adapters/web/gate.py for what each request must show.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from adapters.web.access import Access
from adapters.web.gate import LANG_COOKIE, Gate, Refused
from adapters.web.intake import PLATFORM, Intake, Turns
from adapters.web.live import Hub, Live, Posted
from adapters.web.options import WebOptions
from adapters.web.page import (
    MANIFEST,
    SERVICE_WORKER,
    STATIC_TYPES,
    PageSettings,
    locale_of,
    manifest,
    render,
    service_worker,
    static_file,
)
from adapters.web.pusher import Pusher
from adapters.web.records import ChatRecords
from adapters.web.subscriptions import Subscriptions
from adapters.web.tokens import Signer
from bot.adapter import AdapterStartError, DeliveryError, InboundHandler
from bot.events import ChatKind, Outbound

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cache-Control": "no-store",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebAdapter:
    platform = PLATFORM
    # The person downloads an export from the page, later: Haven's copy must stay.
    uploads_files = False

    def __init__(
        self, options: WebOptions, records: ChatRecords, now: Callable[[], float] = time.time
    ) -> None:
        self.options = options
        self.records = records
        self.signer = Signer(options.secret)
        self.gate = Gate(options, self.signer, records, now)
        self.hub = Hub()
        self.turns = Turns()
        self.intake = Intake(self.gate, self.turns)
        self.access = Access(self.gate, records, self.hub, self.turns)
        self.live = Live(self.gate, records, self.hub)
        self.subscriptions = Subscriptions(self.gate, records, options.push)
        self.pusher = None if options.push is None else Pusher(options.push, records)
        self._runner: web.AppRunner | None = None
        self._closed = asyncio.Event()
        self.port = 0

    # ---- lifecycle ----------------------------------------------------------------

    async def start(self, handler: InboundHandler) -> None:
        self.turns.handler = handler
        self._runner = web.AppRunner(self.application(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        host, port = _host_and_port(self.options.listen)
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise AdapterStartError(
                f"web: cannot listen on {self.options.listen}: {exc.strerror}"
            ) from exc
        self.port = self._runner.addresses[0][1]
        if self.pusher is not None:
            self.pusher.start()  # first sends what was owed when Haven last stopped
        log.info("web: serving the chat page on %s:%d", host, self.port)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        """Stop serving (open pages reconnect to the next start), after the events
        already taken in have been handled."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.turns.drain()
        if self.pusher is not None:
            await self.pusher.stop()  # what it had not sent is owed still, in the database
        self._closed.set()

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=64 * 1024)
        routes = app.router
        routes.add_get("/", self.page)
        routes.add_get("/c/{chat}", self.page)
        routes.add_get("/static/{name}", self.static)
        routes.add_get("/favicon.ico", self.no_icon)
        routes.add_get(SERVICE_WORKER, self.service_worker)
        routes.add_get(MANIFEST, self.manifest)
        routes.add_post("/api/start", self.access.start)
        routes.add_post("/api/resume", self.access.resume)
        routes.add_post("/api/passphrase", self.access.passphrase)
        routes.add_post("/api/lock", self.access.lock)
        routes.add_post("/api/touch", self.access.touch)
        routes.add_post("/api/message", self.intake.message)
        routes.add_post("/api/button", self.intake.button)
        routes.add_post("/api/forward", self.intake.forward)
        routes.add_post("/api/upload", self.intake.upload)
        routes.add_get("/api/live", self.live.socket)
        routes.add_get("/api/poll", self.live.poll)
        routes.add_get("/api/file/{message}", self.file)
        routes.add_post("/api/push", self.subscriptions.subscribe)
        routes.add_post("/api/push/off", self.subscriptions.unsubscribe)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Pace every address, turn refusals into their answers, add the headers."""
        try:
            self.gate.pace(self.gate.address(request))
            response = await handler(request)
        except Refused as refused:
            response = refused.response()
        except web.HTTPException as exc:  # the router's own: an unknown path or method
            response = web.json_response({"error": "not_found"}, status=exc.status)
        response.headers.update(
            {k: v for k, v in SECURITY_HEADERS.items() if k not in response.headers}
        )
        return response

    # ---- the page -----------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        asked = request.query.get("lang", "")
        locale = locale_of(
            asked,
            request.cookies.get(LANG_COOKIE, ""),
            request.headers.get("Accept-Language", ""),
            self.options.default_locale,
        )
        response = web.Response(content_type="text/html", charset="utf-8")
        device = self.gate.device(request, response)
        settings = PageSettings(
            csrf=self.signer.csrf(device),
            idle_seconds=self.options.idle_minutes * 60,
            max_upload_bytes=self.options.max_upload_bytes,
            max_text_chars=self.options.max_text_chars,
            quick_exit_url=self.options.quick_exit_url,
            push_key="" if self.pusher is None else self.pusher.public_key,
        )
        response.text = render(locale, settings)
        if asked == locale:
            response.set_cookie(
                LANG_COOKIE, locale, path="/", secure=True, httponly=True, samesite="Strict"
            )
        return response

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = static_file(name)
        if data is None:
            raise Refused(404, "not_found")
        return web.Response(body=data, content_type=STATIC_TYPES[name], charset="utf-8")

    async def no_icon(self, _request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def service_worker(self, _request: web.Request) -> web.Response:
        """The service worker that shows notifications: served from the root so that its
        scope is the whole page, and only when notifications are on."""
        if self.pusher is None:
            raise Refused(404, "not_found")
        return web.Response(body=service_worker(), content_type="text/javascript", charset="utf-8")

    async def manifest(self, request: web.Request) -> web.Response:
        """What a phone needs to add the page to its home screen (iOS allows notifications
        only there)."""
        remembered = request.cookies.get(LANG_COOKIE, "")
        locale = locale_of("", remembered, "", self.options.default_locale)
        return web.Response(text=manifest(locale), content_type="application/manifest+json")

    async def file(self, request: web.Request) -> web.StreamResponse:
        """A file Haven sent (an export), to the chat it was sent to only."""
        session = await self.gate.session(request)
        number = request.match_info["message"]
        body = await self.records.one(session.chat_id, int(number)) if number.isdigit() else None
        file = json.loads(body).get("file") if body else None
        if not file or not await asyncio.to_thread(Path(file["path"]).is_file):
            raise Refused(404, "not_found")
        response = web.FileResponse(file["path"])
        response.content_type = file.get("mime") or "application/octet-stream"
        safe = "".join(ch for ch in file["name"] if ch.isalnum() or ch in "._-") or "file"
        response.headers["Content-Disposition"] = f'attachment; filename="{safe}"'
        return response

    # ---- outbound -----------------------------------------------------------------

    async def send(self, message: Outbound) -> str:
        """Post one message to the chat's mailbox and wake its pages; the mailbox id."""
        chat_id = message.chat.chat_id
        if message.chat.kind is not ChatKind.PRIVATE:
            raise DeliveryError("web: the web chat has no staff channels", permanent=True)
        try:
            if await self.gate.chat(chat_id) is None:
                raise DeliveryError("web: no such chat", permanent=True)
            body = json.dumps(_body(message))
            notify = self._notify(chat_id, message)
            message_id, previous = await self.records.post(chat_id, body, notify=notify)
        except DeliveryError:
            raise
        except Exception as exc:  # the database is busy or gone: the outbox tries again
            raise DeliveryError(f"web: could not keep the message ({type(exc).__name__})") from exc
        self.hub.posted(chat_id, Posted(message_id, previous, body))
        if notify and self.pusher is not None:
            self.pusher.wake()
        return str(message_id)

    def _notify(self, chat_id: str, message: Outbound) -> bool:
        """A notification for a new message nobody is there to see (an edit answers
        something the person just did on the page)."""
        push = self.options.push
        if push is None or message.edit_of.isdigit():
            return False
        return not self.hub.watched(chat_id, push.grace_seconds)


def _body(message: Outbound) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": message.text,
        "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in message.buttons],
    }
    if message.edit_of.isdigit():
        body["edit"] = int(message.edit_of)
    if message.file is not None:
        file = message.file
        body["file"] = {"name": file.file_name, "path": file.path, "mime": file.mime_type}
    return body


def _host_and_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)
