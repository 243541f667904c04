"""The `/search` syntax: words to find, and a few filters, forgiving of how a phone types.

    /search 截图 from:张三 after:2025-11-01 before:2025-11-15 kind:image

- Words are searched for together (each must be there); "a phrase in quotes" (straight,
  curly or 「corner」 quotes) is one term with its spaces.
- ``from:NAME`` — the original sender (part of the name is enough).
- ``after:DATE`` — from the start of that day; ``before:DATE`` — up to the start of
  that day; ``on:DATE`` — that day only. Days are local days in the deployment's time
  zone. A date is 2025-11-01, 2025/11/1, 2025.11.01 or 2025年11月1日; a time may follow
  after ``T`` (2025-11-01T14:30).
- ``kind:`` — text, image, document, voice or video (Chinese words too: 文字, 图片, 文件,
  语音, 视频); several kinds separated by commas.
- Chinese names for the filters work too (来自: 之后: 之前: 当天: 类型:), and so do
  full-width colons and letters, in any case.

Anything else with a colon (a link, a time like 15:30) is simply a word. Special
characters of regular expressions mean nothing here: every word is searched literally.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.evidence_search import Window

MAX_QUERY_CHARS = 200
MAX_TERMS = 8

# What a victim may type for a kind, and the stored kinds it stands for.
KIND_WORDS = {
    "text": ("text",),
    "message": ("text",),
    "文字": ("text",),
    "消息": ("text",),
    "image": ("photo",),
    "photo": ("photo",),
    "picture": ("photo",),
    "screenshot": ("photo",),
    "图片": ("photo",),
    "照片": ("photo",),
    "截图": ("photo",),
    "document": ("document", "file"),
    "file": ("document", "file"),
    "文件": ("document", "file"),
    "文档": ("document", "file"),
    "voice": ("voice", "audio"),
    "audio": ("voice", "audio"),
    "语音": ("voice", "audio"),
    "音频": ("voice", "audio"),
    "video": ("video",),
    "视频": ("video",),
}
KIND_NAMES = ("text", "image", "document", "voice", "video")

_FILTERS = {
    "from": "from",
    "sender": "from",
    "来自": "from",
    "发送人": "from",
    "after": "after",
    "since": "after",
    "之后": "after",
    "从": "after",
    "before": "before",
    "until": "before",
    "之前": "before",
    "到": "before",
    "on": "on",
    "当天": "on",
    "kind": "kind",
    "type": "kind",
    "类型": "kind",
}
_QUOTES = {"“": "”", '"': '"', "「": "」", "『": "』", "‘": "’", "'": "'"}
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[tT\s]+(\d{1,2})[:点](\d{2}))?"
)


class QueryError(ValueError):
    """A query that cannot be run: ``problem`` names the content text that explains it."""

    def __init__(self, problem: str, **fields: object) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fields = fields


@dataclass(frozen=True)
class Query:
    terms: tuple[str, ...] = ()
    sender: str = ""
    window: Window = field(default_factory=Window)
    kinds: frozenset[str] = frozenset()
    """Stored item kinds; empty means every kind."""

    @property
    def is_empty(self) -> bool:
        return not (self.terms or self.sender or self.kinds) and self.window.is_open


def parse_query(text: str, tz: ZoneInfo) -> Query:
    """The query ``text`` describes; QueryError says what is wrong with it."""
    if len(text) > MAX_QUERY_CHARS:
        raise QueryError("search.too_long", limit=MAX_QUERY_CHARS)
    terms: list[str] = []
    sender = ""
    start: datetime | None = None
    end: datetime | None = None
    kinds: set[str] = set()
    for token in _tokens(text):
        name, value = _filter(token)
        if name is None:
            terms.append(token)
        elif name == "from":
            sender = value
        elif name == "after":
            start = _moment(value, tz, day_end=False)
        elif name == "before":
            end = _moment(value, tz, day_end=False)
        elif name == "on":
            start = _moment(value, tz, day_end=False)
            end = _moment(value, tz, day_end=True)
        else:
            kinds.update(_kinds(value))
    if len(terms) > MAX_TERMS:
        raise QueryError("search.too_many_words", limit=MAX_TERMS)
    if start is not None and end is not None and start >= end:
        raise QueryError("search.reversed")
    return Query(tuple(terms), sender, Window(start, end), frozenset(kinds))


def _tokens(text: str) -> list[str]:
    """Words and quoted phrases; a quote left open runs to the end."""
    tokens: list[str] = []
    rest = " ".join(text.split())
    while rest:
        opening = rest[0]
        if opening in _QUOTES:
            phrase, _, rest = rest[1:].partition(_QUOTES[opening])
            if phrase.strip():
                tokens.append(phrase.strip())
        else:
            word, _, rest = rest.partition(" ")
            tokens.append(word)
        rest = rest.strip()
    return tokens


def _filter(token: str) -> tuple[str | None, str]:
    """(filter name, value) for ``name:value`` with a known name, else (None, token)."""
    plain = unicodedata.normalize("NFKC", token)
    name, colon, value = plain.partition(":")
    known = _FILTERS.get(name.casefold())
    if not colon or known is None:
        return None, token
    if not value:
        raise QueryError("search.empty_filter", filter=f"{name}:")
    return known, value


def _moment(value: str, tz: ZoneInfo, *, day_end: bool) -> datetime:
    found = _DATE.fullmatch(value)
    if found is None:
        raise QueryError("search.bad_date", value=value[:40])
    year, month, day, hour, minute = found.groups()
    try:
        day_ = date(int(year), int(month), int(day))
        at = time(int(hour), int(minute)) if hour is not None else time()
    except ValueError:
        raise QueryError("search.bad_date", value=value[:40]) from None
    local = datetime.combine(day_, at, tzinfo=tz)
    return local + timedelta(days=1) if day_end else local


def _kinds(value: str) -> set[str]:
    kinds: set[str] = set()
    for word in re.split(r"[,，、]", value):
        stored = KIND_WORDS.get(word.strip().casefold())
        if stored is None:
            raise QueryError("search.bad_kind", value=word[:40], kinds=", ".join(KIND_NAMES))
        kinds.update(stored)
    return kinds
