"""A fake Telegram Bot API on 127.0.0.1, for running the real python-telegram-bot against.

It serves what the Telegram adapter calls (getMe, getUpdates, sendMessage,
editMessageText, answerCallbackQuery, sendDocument, getFile, file downloads,
deleteWebhook, setWebhook), delivers updates to a webhook round-robin over several
instances (on to the next when one refuses or is gone, as Telegram retries), checks what
real Telegram checks where a mistake would hide (text length, callback data length, the
token), records every successful call, and can answer with 429 + retry_after, a 5xx, or
a dropped connection — once, or for as long as an outage lasts.

python-telegram-bot posts form-encoded (or multipart) bodies: every value is a string and
nested objects are JSON strings, so those are decoded here before recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.http_faults import Call, FakeServer, Fault, drop

TOKEN = "123456:TEST-fake-token"
BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "Haven",
    "username": "haven_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
CLOUD_DOWNLOAD_LIMIT = 20_000_000
ALL_METHODS = frozenset(
    {
        "getMe",
        "getUpdates",
        "sendMessage",
        "editMessageText",
        "answerCallbackQuery",
        "sendDocument",
        "getFile",
        "setWebhook",
        "deleteWebhook",
        "download",
    }
)
_JSON_PARAMS = {
    "reply_markup",
    "allowed_updates",
    "entities",
    "caption_entities",
    "reply_parameters",
}
_LONG_POLL_CAP = 0.5  # seconds; short, so closing the fake never waits on a poll
_WEBHOOK_TIMEOUT_SECONDS = 10.0
_WEBHOOK_RETRY_SECONDS = 0.2  # between rounds over every target, all of them refusing


@dataclass
class StoredFile:
    data: bytes
    size: int
    path: str


@dataclass
class FakeBotAPI(FakeServer):
    token: str = TOKEN
    all_methods: frozenset[str] = ALL_METHODS
    served_at: dict[int, float] = field(default_factory=dict)
    # Every update below this id was confirmed (a getUpdates with this offset): Telegram
    # will never send it again.
    confirmed_below: int = 0
    webhook: dict[str, Any] = field(default_factory=dict)
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100_000))
    _files: dict[str, StoredFile] = field(default_factory=dict)
    # Where deliver() posts webhooks (each instance's own address), and which took each.
    webhook_targets: list[str] = field(default_factory=list)
    delivered_to: dict[int, int] = field(default_factory=dict)
    _round_robin: itertools.count[int] = field(default_factory=itertools.count)
    _client: aiohttp.ClientSession | None = None

    # ---- running ------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)

    @property
    def api_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # ---- what a test does ---------------------------------------------------------

    def push(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, **update})
        self.notify()
        return update_id

    async def deliver(self, update: Mapping[str, Any], *, first: int | None = None) -> int:
        """Post an update to the webhook the way Telegram does, one instance after another
        behind the load balancer: round-robin over ``webhook_targets`` (or from
        ``first``), and on to the next while one refuses or cannot be reached, as
        Telegram retries. Returns its update_id and records which target took it."""
        update_id = next(self._update_ids)
        body = json.dumps({"update_id": update_id, **update})
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": str(self.webhook.get("secret_token", "")),
        }
        start = next(self._round_robin) if first is None else first
        for attempt in itertools.count():
            index = (start + attempt) % len(self.webhook_targets)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self._webhook_client().post(
                    self.webhook_targets[index], data=body, headers=headers
                ) as response:
                    if response.status == 200:
                        self.delivered_to[update_id] = index
                        return update_id
            if attempt >= len(self.webhook_targets):
                await asyncio.sleep(_WEBHOOK_RETRY_SECONDS)

    async def close(self) -> None:
        await self.close_webhook_client()
        await super().close()

    async def close_webhook_client(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _webhook_client(self) -> aiohttp.ClientSession:
        if self._client is None:
            timeout = aiohttp.ClientTimeout(total=_WEBHOOK_TIMEOUT_SECONDS)
            self._client = aiohttp.ClientSession(timeout=timeout)
        return self._client

    def add_file(self, file_id: str, data: bytes, size: int | None = None) -> None:
        """A file the bot may fetch; `size` can claim more than `data` holds."""
        self._files[file_id] = StoredFile(data, len(data) if size is None else size, file_id)

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        """Successful calls of one method, optionally to one chat."""
        return [
            c
            for c in self.requests(method)
            if c.status == 200 and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def texts(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.sent(chat_id=chat_id)]

    def last_buttons(self, chat_id: int) -> list[str]:
        """Callback data of the newest keyboard sent to a chat."""
        for call in reversed(self.sent(chat_id=chat_id)):
            markup = call.params.get("reply_markup")
            if markup:
                return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
        return []

    # ---- the HTTP side ------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        fault = self.fault_for(method)
        if fault is not None:
            return drop(request) if fault.drop else _fault_response(fault)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.StreamResponse = await handler(params)
        self.record(Call(method, params, time.monotonic(), response.status))
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        if self.fault_for("download") is not None:
            return drop(request)
        stored = self._files.get(request.match_info["path"])
        if stored is None:
            return _error(404, "Not Found")
        self.record(Call("download", {"path": stored.path}, time.monotonic()))
        return web.Response(body=stored.data)

    # ---- methods ------------------------------------------------------------------

    async def _m_getMe(self, _params: Mapping[str, Any]) -> web.Response:
        return _ok(BOT_USER)

    async def _m_deleteWebhook(self, _params: Mapping[str, Any]) -> web.Response:
        self.webhook = {}
        return _ok(True)

    async def _m_setWebhook(self, params: Mapping[str, Any]) -> web.Response:
        self.webhook = dict(params)
        return _ok(True)

    async def _m_getUpdates(self, params: Mapping[str, Any]) -> web.Response:
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100))
        wait = min(float(params.get("timeout", 0)), _LONG_POLL_CAP)
        # Confirming an offset forgets everything before it, as Telegram does.
        self.confirmed_below = max(self.confirmed_below, offset)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and wait > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._changed.wait_for(lambda: self._updates)
        batch = self._updates[:limit]
        now = time.monotonic()
        for update in batch:
            self.served_at.setdefault(update["update_id"], now)
        return _ok(batch)

    async def _m_sendMessage(self, params: Mapping[str, Any]) -> web.Response:
        text = str(params.get("text", ""))
        if not text:
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        problem = _markup_problem(params.get("reply_markup"))
        if problem:
            return _error(400, problem)
        return _ok(self._message(params, text=text))

    async def _m_editMessageText(self, params: Mapping[str, Any]) -> web.Response:
        problem = _markup_problem(params.get("reply_markup"))
        if problem:
            return _error(400, problem)
        message = self._message(params, text=str(params.get("text", "")))
        message["message_id"] = int(params["message_id"])
        message["edit_date"] = int(time.time())
        return _ok(message)

    async def _m_answerCallbackQuery(self, _params: Mapping[str, Any]) -> web.Response:
        return _ok(True)

    async def _m_sendDocument(self, params: Mapping[str, Any]) -> web.Response:
        document = {"file_id": f"sent-{len(self.calls)}", "file_unique_id": "u", "file_size": 1}
        return _ok(self._message(params, document=document, caption=params.get("caption", "")))

    async def _m_getFile(self, params: Mapping[str, Any]) -> web.Response:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            return _error(400, "Bad Request: invalid file_id")
        if stored.size > CLOUD_DOWNLOAD_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return _ok(
            {
                "file_id": stored.path,
                "file_unique_id": f"u-{stored.path}",
                "file_size": stored.size,
                "file_path": stored.path,
            }
        )

    def _message(self, params: Mapping[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        if chat_id < 0:
            chat["title"] = "Group"
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
            **{key: value for key, value in content.items() if value},
        }


async def _params(request: web.Request) -> dict[str, Any]:
    if request.method == "GET":
        raw: Mapping[str, Any] = request.query
    elif request.content_type == "application/json":
        raw = await request.json()
    else:
        raw = await request.post()
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, web.FileField):
            data = value.file.read()
            params[key] = {
                "filename": value.filename,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "content_type": value.content_type,
            }
        elif key in _JSON_PARAMS and isinstance(value, str):
            params[key] = json.loads(value)
        else:
            params[key] = value
    return params


def _markup_problem(markup: Any) -> str:
    """Real Telegram refuses callback data over 64 bytes; so does the fake."""
    if not markup:
        return ""
    for row in markup.get("inline_keyboard", []):
        for button in row:
            data = button.get("callback_data", "")
            if not 1 <= len(data.encode()) <= 64:
                return "Bad Request: BUTTON_DATA_INVALID"
    return ""


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _fault_response(fault: Fault) -> web.Response:
    if fault.retry_after is not None:
        return _error(
            429,
            f"Too Many Requests: retry after {fault.retry_after}",
            retry_after=fault.retry_after,
        )
    return _error(fault.status, "Bad Gateway" if fault.status == 502 else "Internal Server Error")
