"""A fake Telegram Bot API on 127.0.0.1, for running the real python-telegram-bot against.

It serves what the Telegram adapter calls (getMe, getUpdates, sendMessage,
editMessageText, answerCallbackQuery, sendDocument, getFile, file downloads,
deleteWebhook, setWebhook), checks what real Telegram checks where a mistake would hide
(text length, callback data length, the token), records every successful call, and can
answer with 429 + retry_after, a 5xx, or a dropped connection — once, or for as long as an
outage lasts.

python-telegram-bot posts form-encoded (or multipart) bodies: every value is a string and
nested objects are JSON strings, so those are decoded here before recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

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
_JSON_PARAMS = {"reply_markup", "allowed_updates", "entities", "caption_entities"}
_LONG_POLL_CAP = 0.5  # seconds; short, so closing the fake never waits on a poll

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    method: str
    params: Mapping[str, Any]
    at: float
    status: int = 200


@dataclass
class Fault:
    """How to fail `count` requests for `methods` (None: every method), once `after`
    matching requests have gone through."""

    methods: frozenset[str] | None
    count: int
    status: int = 500
    retry_after: int | None = None
    drop: bool = False
    after: int = 0

    def applies(self, method: str) -> bool:
        if self.count <= 0 or (self.methods is not None and method not in self.methods):
            return False
        if self.after > 0:
            self.after -= 1
            return False
        self.count -= 1
        return True


@dataclass
class StoredFile:
    data: bytes
    size: int
    path: str


@dataclass
class FakeBotAPI:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)  # every request that got an answer
    failed: list[str] = field(default_factory=list)  # methods failed on purpose
    served_at: dict[int, float] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    # Called with every recorded call: lets a benchmark react without rescanning `calls`.
    on_call: Callable[[Call], None] | None = None
    _updates: list[dict[str, Any]] = field(default_factory=list)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100_000))
    _files: dict[str, StoredFile] = field(default_factory=dict)
    _faults: list[Fault] = field(default_factory=list)
    _outage: Fault | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None
    port: int = 0

    # ---- running ------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

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
        self._notify()
        return update_id

    def add_file(self, file_id: str, data: bytes, size: int | None = None) -> None:
        """A file the bot may fetch; `size` can claim more than `data` holds."""
        self._files[file_id] = StoredFile(data, len(data) if size is None else size, file_id)

    def fail(
        self,
        *methods: str,
        status: int = 500,
        retry_after: int | None = None,
        drop: bool = False,
        count: int = 1,
        after: int = 0,
    ) -> None:
        """Fail `count` calls of these methods (all when none named) after `after` more
        have succeeded."""
        chosen = frozenset(methods) if methods else None
        self._faults.append(Fault(chosen, count, status, retry_after, drop, after))

    def outage(self, *, status: int = 502, drop: bool = False, spare: Iterable[str] = ()) -> None:
        """Every method (and file download) except `spare` fails until `restore()`."""
        self._outage = Fault(ALL_METHODS - set(spare), 1 << 30, status, None, drop)

    def restore(self) -> None:
        self._outage = None

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        """Successful calls of one method, optionally to one chat."""
        return [
            c
            for c in self.requests(method)
            if c.status == 200 and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
        ]

    def requests(self, method: str) -> list[Call]:
        """Every answered call of one method, refused ones included."""
        return [c for c in self.calls if c.method == method]

    def texts(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.sent(chat_id=chat_id)]

    def last_buttons(self, chat_id: int) -> list[str]:
        """Callback data of the newest keyboard sent to a chat."""
        for call in reversed(self.sent(chat_id=chat_id)):
            markup = call.params.get("reply_markup")
            if markup:
                return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
        return []

    async def wait_for(self, check: Callable[[], T | None], seconds: float = 5.0) -> T:
        """Wait until `check()` returns something truthy; re-checked after every request."""
        async with self._changed:
            found = await asyncio.wait_for(self._changed.wait_for(check), seconds)
        assert found
        return found

    # ---- the HTTP side ------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        fault = self._fault_for(method)
        if fault is not None:
            self.failed.append(method)
            return _drop(request) if fault.drop else _fault_response(fault)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.StreamResponse = await handler(params)
        self._record(Call(method, params, time.monotonic(), response.status))
        self._notify()
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        if self._fault_for("download") is not None:
            return _drop(request)
        stored = self._files.get(request.match_info["path"])
        if stored is None:
            return _error(404, "Not Found")
        self._record(Call("download", {"path": stored.path}, time.monotonic()))
        return web.Response(body=stored.data)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        if self.on_call is not None:
            self.on_call(call)

    def _fault_for(self, method: str) -> Fault | None:
        if self._outage is not None and self._outage.applies(method):
            return self._outage
        return next((fault for fault in self._faults if fault.applies(method)), None)

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

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
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and wait > 0:
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait_for(lambda: self._updates), wait)
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
            params[key] = {"filename": value.filename, "size": len(value.file.read())}
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


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer, as a crashing proxy would."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)
