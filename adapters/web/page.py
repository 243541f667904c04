"""The one page of the web chat, in the person's language, and its two static files.

The page is rendered per request only to put the locale's words, the CSRF token and a
few settings into it; its script and style are files of their own, so the
Content-Security-Policy can forbid every inline script and style.
"""

from __future__ import annotations

import html
import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC = Path(__file__).with_name("static")
TEXTS = Path(__file__).with_name("texts.toml")
LOCALES = ("zh-CN", "en")
STATIC_TYPES = {"app.js": "text/javascript", "app.css": "text/css"}
SERVICE_WORKER = "/sw.js"
MANIFEST = "/manifest.webmanifest"


@cache
def texts() -> dict[str, dict[str, str]]:
    with TEXTS.open("rb") as handle:
        loaded: dict[str, dict[str, str]] = tomllib.load(handle)
    return loaded


@cache
def _template() -> str:
    return (STATIC / "index.html").read_text(encoding="utf-8")


@cache
def static_file(name: str) -> bytes | None:
    if name not in STATIC_TYPES:
        return None
    return (STATIC / name).read_bytes()


@cache
def service_worker() -> bytes:
    return (STATIC / "sw.js").read_bytes()


@dataclass(frozen=True)
class PageSettings:
    csrf: str
    idle_seconds: float
    max_upload_bytes: int
    max_text_chars: int
    quick_exit_url: str
    push_key: str = ""  # the VAPID public key; empty: notifications are off


def locale_of(asked: str, remembered: str, accept_language: str, default: str) -> str:
    """The page's language: asked for now, chosen before, or the browser's first choice."""
    for candidate in (asked, remembered):
        if candidate in LOCALES:
            return candidate
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default


def render(locale: str, settings: PageSettings) -> str:
    words = texts()[locale]
    config = {
        "csrf": settings.csrf,
        "idleSeconds": settings.idle_seconds,
        "maxUpload": settings.max_upload_bytes,
        "maxUploadShown": _size(settings.max_upload_bytes),
        "quickExit": settings.quick_exit_url,
        "pushKey": settings.push_key,
        "locale": locale,
        "texts": words,
    }
    # "<" escaped: the JSON sits in a <script type="application/json"> data block.
    data = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    fields = {**words, "lang": locale, "max_text": str(settings.max_text_chars), "config": data}
    page = _template()
    for key, value in fields.items():
        shown = value if key == "config" else html.escape(value)
        page = page.replace("{{" + key + "}}", shown)
    return page


def manifest(locale: str) -> str:
    words = texts()[locale]
    return json.dumps(
        {
            "name": words["title"],
            "short_name": words["title"],
            "lang": locale,
            "start_url": "/",
            "scope": "/",
            "display": "standalone",
        },
        ensure_ascii=False,
    )


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB"
    return f"{max(1, size // 1024)} KB"
