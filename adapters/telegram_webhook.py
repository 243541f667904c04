"""Telegram's webhook, served here: HTTP 200 only once Haven has taken the update in.

Telegram counts a webhook update delivered at the 200 and never sends it again.
python-telegram-bot's own webhook server answers as soon as the update is queued, so a
stop or crash before the application reached it would lose it. Here the request waits
until the adapter has taken the update in (see `adapters.telegram_confirm.ConfirmGate`:
handed over, and for evidence journaled, or deliberately set aside); if that does not
happen within `TAKE_IN_SECONDS` (the core is overwhelmed, Haven is stopping) the answer
is 503, and Telegram tries again later.

Every request must carry the secret token given to setWebhook (compared in constant
time): without it, 403 before the body is read. A body over `MAX_BODY_BYTES`, or one
that is not a Telegram update, gets 400 and is never handed on.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging

from aiohttp import web
from telegram import Bot, Update

from adapters.telegram_confirm import ConfirmGate

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Far above any update Telegram sends (a 4096-character text with its entities and the
# message it replies to is some tens of kilobytes), far below what would strain memory.
MAX_BODY_BYTES = 1024 * 1024
# Long enough for an album's quiet period and a busy journal; Telegram waits longer.
TAKE_IN_SECONDS = 10.0
# At a stop, requests in hand get this long to be answered; the rest are cut off and
# Telegram sends them again. Well inside the adapter's stop grace.
STOP_SECONDS = 2.0


class WebhookServer:
    """One aiohttp server for Telegram's POSTs to `path`."""

    def __init__(
        self,
        queue: asyncio.Queue[object],
        bot: Bot,
        gate: ConfirmGate,
        path: str,
        secret: str,
        take_in_seconds: float = TAKE_IN_SECONDS,
    ) -> None:
        self._queue = queue
        self._take_in_seconds = take_in_seconds
        self._bot = bot
        self._gate = gate
        self._path = path or "/"
        self._secret = secret.encode()
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post(self._path, self._receive)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=STOP_SECONDS)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """No new requests; those in hand are answered or cut off within STOP_SECONDS."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        if not self._authentic(request):
            log.warning(
                "telegram webhook: refused a request from %s without the right secret token",
                request.remote,
            )
            return web.Response(status=403)
        update = await self._read_update(request)
        if update is None:
            return web.Response(status=400)
        if await self._take_in(update):
            return web.Response(status=200)
        log.warning("telegram webhook: update %d not taken in yet; 503", update.update_id)
        return web.Response(status=503)

    def _authentic(self, request: web.Request) -> bool:
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self._secret)

    async def _read_update(self, request: web.Request) -> Update | None:
        """The body as an update, or None (logged) when it is too big or not one."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            log.warning("telegram webhook: refused a body over %d bytes", MAX_BODY_BYTES)
            return None
        try:
            data = json.loads(body)
        except ValueError:  # UnicodeDecodeError included
            log.warning("telegram webhook: refused a body that is not JSON (%d bytes)", len(body))
            return None
        if not isinstance(data, dict) or type(data.get("update_id")) is not int:
            log.warning("telegram webhook: refused JSON that is not a Telegram update")
            return None
        try:
            return Update.de_json(data, self._bot)
        # python-telegram-bot builds nested objects with their constructors, which raise
        # these on fields of the wrong shape.
        except (TypeError, ValueError, KeyError, AttributeError):
            log.warning("telegram webhook: refused update %d: malformed", data["update_id"])
            return None

    async def _take_in(self, update: Update) -> bool:
        """Queue the update (once, however often Telegram sends it while it waits) and wait
        until it is taken in; False when that takes too long."""
        update_id = update.update_id
        if self._gate.was_taken(update_id):
            return True  # our 200 was lost on the way: Telegram sent it again
        if not self._gate.is_open(update_id):
            self._gate.expect((update_id,))
            await self._queue.put(update)
        return await self._gate.until_taken(update_id, self._take_in_seconds)
