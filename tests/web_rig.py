"""A real Haven serving the web chat on 127.0.0.1, and a small HTTP client that acts
like the page: it keeps its own cookies (aiohttp's jar will not send Secure cookies to
http://127.0.0.1, which Chromium does), sends the CSRF token and fresh request ids."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp

from adapters.web import WebAdapter, WebOptions
from bot.delivery.web_records import WebRecords
from bot.runtime import Haven, web_options
from tests.chat_rig import serving
from tests.conftest import make_config

WEB_CONFIG = """
[adapters]
enabled = ["web"]
"""


@dataclass
class WebRig:
    haven: Haven
    adapter: WebAdapter
    records: WebRecords

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}"


@contextlib.asynccontextmanager
async def web_haven(
    data_dir: Path,
    extra: str = "",
    *,
    tune: Callable[[WebOptions], WebOptions] = lambda options: options,
    now: Callable[[], float] | None = None,
) -> AsyncIterator[WebRig]:
    config = make_config(data_dir, WEB_CONFIG + extra)
    records = WebRecords()
    options = tune(replace(web_options(config), listen="127.0.0.1:0"))
    adapter = WebAdapter(options, records) if now is None else WebAdapter(options, records, now)
    haven = await Haven.open(config, {"web": adapter})
    records.open(haven.db, haven.clock)
    async with serving(haven, adapter, haven.dispatcher.handle):
        yield WebRig(haven, adapter, records)


def tuned(**changes: Any) -> Callable[[WebOptions], WebOptions]:
    return lambda options: replace(options, **changes)


@dataclass
class Page:
    """One browser's worth of state: its cookies and its CSRF token."""

    http: aiohttp.ClientSession
    base: str
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    forwarded_for: str = ""

    def headers(self, **extra: str) -> dict[str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        return {**headers, **extra}

    def keep(self, response: aiohttp.ClientResponse) -> None:
        for header in response.headers.getall("Set-Cookie", []):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    async def open(self) -> str:
        async with self.http.get(self.base + "/", headers=self.headers()) as response:
            self.keep(response)
            page = await response.text()
        found = re.search(r'"csrf": "([^"]+)"', page)
        assert found is not None
        self.csrf = found.group(1)
        return page

    async def post(
        self, path: str, body: Any = None, *, request_id: str | None = None, **headers: str
    ) -> tuple[int, dict[str, Any]]:
        sent = self.headers(
            **{
                "X-Haven-CSRF": self.csrf,
                "X-Haven-Request": request_id or secrets.token_urlsafe(18),
                **headers,
            }
        )
        data = body if isinstance(body, bytes) else None
        json_body = None if isinstance(body, bytes) else (body or {})
        async with self.http.post(
            self.base + path, json=json_body, data=data, headers=sent
        ) as response:
            self.keep(response)
            return response.status, await response.json()

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        async with self.http.get(self.base + path, headers=self.headers()) as response:
            self.keep(response)
            return response.status, await response.json()
