"""A fake Slack Web API on 127.0.0.1, for running the real slack-bolt and slack_sdk against.

It serves what the Slack adapter calls (auth.test, chat.postMessage, chat.update,
conversations.open, users.info, files.info, file downloads, files.getUploadURLExternal,
the upload itself, files.completeUploadExternal, apps.connections.open and a Socket Mode
WebSocket), checks what real Slack checks where a mistake would hide (the bot token on
every call and download, Block Kit limits, that an updated message exists), records every
answered call, and can answer with 429 + Retry-After, a 5xx, or a dropped connection.

It also plays Slack's side of the inbound traffic: `signed` builds an HTTP request body
and headers exactly as Slack signs them, and `socket_send` pushes an envelope down the
Socket Mode connection.

slack_sdk sends JSON for some methods, form fields for others and query strings for GET;
all three are read. Form fields holding JSON (blocks, files) are decoded before recording.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.http_faults import Call, FakeServer, Fault, drop

BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-1-test-app-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM_ID = "T0HAVEN"
BOT_USER_ID = "UHAVENBOT"
BOT_ID = "BHAVENBOT"
ALL_METHODS = frozenset(
    {
        "auth.test",
        "chat.postMessage",
        "chat.update",
        "conversations.open",
        "users.info",
        "files.info",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "apps.connections.open",
        "download",
        "upload",
    }
)
_JSON_PARAMS = {"blocks", "files", "attachments"}


@dataclass
class StoredFile:
    file_id: str
    name: str
    mimetype: str
    data: bytes
    size: int


@dataclass
class FakeSlackAPI(FakeServer):
    bot_token: str = BOT_TOKEN
    app_token: str = APP_TOKEN
    signing_secret: str = SIGNING_SECRET
    all_methods: frozenset[str] = ALL_METHODS
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    gone_channels: set[str] = field(default_factory=set)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _files: dict[str, StoredFile] = field(default_factory=dict)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)
    sockets_opened: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{team}-{file_id}/{name}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)

    async def close(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        await super().close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # ---- what a test does ---------------------------------------------------------

    def add_user(self, user_id: str, name: str, locale: str = "en-US") -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name.lower(),
            "locale": locale,
            "profile": {"display_name": name, "real_name": f"{name} Real"},
        }

    def add_file(self, file_id: str, name: str, data: bytes, *, size: int | None = None) -> None:
        """A file the bot may fetch; `size` can claim more than `data` holds."""
        mime = "image/png" if name.endswith(".png") else "application/pdf"
        self._files[file_id] = StoredFile(
            file_id, name, mime, data, len(data) if size is None else size
        )

    def file_object(self, file_id: str) -> dict[str, Any]:
        """The file as Slack describes it in events and files.info."""
        stored = self._files[file_id]
        return {
            "id": stored.file_id,
            "name": stored.name,
            "title": stored.name,
            "mimetype": stored.mimetype,
            "size": stored.size,
            "url_private": self._file_url(stored),
            "url_private_download": self._file_url(stored) + "?download=1",
        }

    def sent(self, method: str = "chat.postMessage", channel: str | None = None) -> list[Call]:
        """Successful calls of one method, optionally to one channel."""
        return [
            c
            for c in self.requests(method)
            if c.status == 200
            and (channel is None or c.params.get("channel", c.params.get("channel_id")) == channel)
        ]

    def texts(self, channel: str) -> list[str]:
        """The section texts of every message posted to a channel, one string a message."""
        return [_plain(c.params) for c in self.sent(channel=channel)]

    def last_buttons(self, channel: str) -> list[str]:
        """The values of the newest buttons posted to a channel."""
        for call in reversed(self.sent(channel=channel)):
            values = _button_values(call.params)
            if values:
                return values
        return []

    def signed(
        self,
        body: str,
        *,
        at: float | None = None,
        secret: str | None = None,
        content_type: str = "application/json",
        retry: int | None = None,
    ) -> dict[str, str]:
        """Headers Slack would send with `body`, signed with v0 HMAC-SHA256."""
        timestamp = str(int(time.time() if at is None else at))
        base = f"v0:{timestamp}:{body}".encode()
        key = (self.signing_secret if secret is None else secret).encode()
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + hmac.new(key, base, hashlib.sha256).hexdigest(),
        }
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return headers

    @property
    def socket_connections(self) -> int:
        """Socket Mode connections open now."""
        return len(self._sockets)

    async def socket_send(self, envelope_type: str, payload: Mapping[str, Any]) -> str:
        """Push one envelope to the connected Socket Mode client; returns its id."""
        await self.wait_for(lambda: self._sockets)
        envelope_id = str(uuid.uuid4())
        message = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": envelope_type != "events_api",
        }
        await self._sockets[-1].send_str(json.dumps(message))
        return envelope_id

    # ---- the HTTP side ------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _params(request)
        fault = self.fault_for(method)
        if fault is not None:
            return drop(request) if fault.drop else _fault_response(fault)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        wanted = self.app_token if method == "apps.connections.open" else self.bot_token
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if token != wanted:
            response: web.Response = _error("invalid_auth")
        elif handler is None:
            response = _error("unknown_method", status=404)
        else:
            response = await handler(params)
        self.record(Call(method, params, time.monotonic(), _status_of(response)))
        return response

    async def _download(self, request: web.Request) -> web.StreamResponse:
        if self.fault_for("download") is not None:
            return drop(request)
        if request.headers.get("Authorization") != f"Bearer {self.bot_token}":
            # Slack answers a download without the token with its sign-in page.
            return web.Response(status=302, headers={"Location": "/signin"})
        stored = self._files.get(request.match_info["file_id"])
        if stored is None:
            return web.Response(status=404)
        self.record(Call("download", {"file": stored.file_id}, time.monotonic()))
        return web.Response(body=stored.data, content_type=stored.mimetype)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        if self.fault_for("upload") is not None:
            return drop(request)
        upload = self.uploads.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404)
        upload["data"] = await request.read()
        self.record(Call("upload", {"file": request.match_info["file_id"]}, time.monotonic()))
        return web.Response(text="OK - " + str(len(upload["data"])))

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(heartbeat=None)
        await socket.prepare(request)
        self._sockets.append(socket)
        self.sockets_opened += 1
        await socket.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.notify()
        try:
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(message.data))
                    self.notify()
        finally:
            self._sockets.remove(socket)
            self.notify()
        return socket

    def _file_url(self, stored: StoredFile) -> str:
        return f"http://127.0.0.1:{self.port}/files-pri/{TEAM_ID}-{stored.file_id}/{stored.name}"

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    # ---- methods ------------------------------------------------------------------

    async def _m_auth_test(self, _params: Mapping[str, Any]) -> web.Response:
        return _ok(
            url="https://haven-test.slack.com/",
            team="Haven Test",
            user="haven",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            is_enterprise_install=False,
        )

    async def _m_chat_postMessage(self, params: Mapping[str, Any]) -> web.Response:
        channel = str(params.get("channel", ""))
        problem = self._message_problem(channel, params)
        if problem:
            return _error(problem)
        ts = self._next_ts()
        message = {"ts": ts, "text": params.get("text", ""), "blocks": params.get("blocks", [])}
        self.messages[(channel, ts)] = message
        return _ok(channel=channel, ts=ts, message={**message, "bot_id": BOT_ID})

    async def _m_chat_update(self, params: Mapping[str, Any]) -> web.Response:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        problem = self._message_problem(channel, params)
        if problem:
            return _error(problem)
        if (channel, ts) not in self.messages:
            return _error("message_not_found")
        self.messages[(channel, ts)] = {
            "ts": ts,
            "text": params.get("text", ""),
            "blocks": params.get("blocks", []),
        }
        return _ok(channel=channel, ts=ts, text=params.get("text", ""))

    async def _m_conversations_open(self, params: Mapping[str, Any]) -> web.Response:
        user = str(params.get("users", ""))
        if user not in self.users:
            return _error("user_not_found")
        return _ok(channel={"id": "D" + user.removeprefix("U")})

    async def _m_users_info(self, params: Mapping[str, Any]) -> web.Response:
        user = self.users.get(str(params.get("user", "")))
        if user is None:
            return _error("user_not_found")
        shown = (
            user
            if str(params.get("include_locale")).lower() in ("1", "true")
            else {k: v for k, v in user.items() if k != "locale"}
        )
        return _ok(user=shown)

    async def _m_files_info(self, params: Mapping[str, Any]) -> web.Response:
        file_id = str(params.get("file", ""))
        if file_id not in self._files:
            return _error("file_not_found")
        return _ok(file=self.file_object(file_id))

    async def _m_files_getUploadURLExternal(self, params: Mapping[str, Any]) -> web.Response:
        file_id = f"FUP{len(self.uploads) + 1:04d}"
        self.uploads[file_id] = {"filename": params.get("filename"), "length": params.get("length")}
        return _ok(upload_url=f"http://127.0.0.1:{self.port}/upload/{file_id}", file_id=file_id)

    async def _m_files_completeUploadExternal(self, params: Mapping[str, Any]) -> web.Response:
        files = params.get("files") or []
        done = []
        for item in files:
            upload = self.uploads.get(item.get("id", ""))
            if upload is None or "data" not in upload:
                return _error("file_not_found")
            upload.update(channel=params.get("channel_id"), comment=params.get("initial_comment"))
            done.append({"id": item["id"], "title": item.get("title", "")})
        return _ok(files=done)

    async def _m_apps_connections_open(self, _params: Mapping[str, Any]) -> web.Response:
        return _ok(url=f"ws://127.0.0.1:{self.port}/socket")

    def _message_problem(self, channel: str, params: Mapping[str, Any]) -> str:
        """What real Slack would refuse about this message, or ""."""
        if channel in self.gone_channels or not channel:
            return "channel_not_found"
        blocks = params.get("blocks") or []
        if not params.get("text") and not blocks:
            return "no_text"
        if len(blocks) > 50:
            return "invalid_blocks"
        action_ids: list[str] = []
        for block in blocks:
            if block.get("type") == "section" and len(block["text"]["text"]) > 3000:
                return "invalid_blocks"
            for element in block.get("elements", ()):
                action_ids.append(element["action_id"])
                if len(element["text"]["text"]) > 75 or len(element.get("value", "")) > 2000:
                    return "invalid_blocks"
        if len(set(action_ids)) != len(action_ids):
            return "invalid_blocks"
        return ""


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST":
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update(await request.post())
    for key in _JSON_PARAMS:
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    return params


def _plain(params: Mapping[str, Any]) -> str:
    sections = [b["text"]["text"] for b in params.get("blocks") or [] if b.get("type") == "section"]
    return "\n\n".join(sections) if sections else str(params.get("text", ""))


def _button_values(params: Mapping[str, Any]) -> list[str]:
    return [
        element["value"]
        for block in params.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def _status_of(response: web.Response) -> int:
    """200 with ok:true is success; Slack's refusals are HTTP 200 with ok:false."""
    if response.status != 200:
        return response.status
    assert response.text is not None
    return 200 if json.loads(response.text).get("ok") else 400


def _ok(**result: Any) -> web.Response:
    return web.json_response({"ok": True, **result})


def _error(error: str, status: int = 200) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _fault_response(fault: Fault) -> web.Response:
    if fault.retry_after is not None:
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(fault.retry_after)},
        )
    return web.json_response({"ok": False, "error": "fatal_error"}, status=fault.status)
