"""When a note says something happened: dates and times as people write them.

Chinese is read by JioNLP (``11月3日下午3点半``, ``昨天晚上8点``, ``上周五``, 点/半/刻,
上午/下午/晚上/凌晨), other text by dateparser (``Nov 3 15:30``, ``last Friday at 8pm``,
``11/03``), both against "now" in the case's time zone. Neither library can tell what it
guessed, so the rules here decide what a note may be placed at:

- a day with no time is placed on that day; a time of day with no day at the latest such
  time that has passed, and the reply says which day that was;
- a month and day with no year that lies ahead is last year's;
- ``03/11/2025`` (day and month could be either way round) and anything that looks like
  a date but could not be read (``2025-02-30``) is asked about, never guessed;
- a month, a week or a year alone (``in May``) is too vague to place; a day ahead
  (``he'll post it in three days``) is what the note is about, not when it happened.
"""

from __future__ import annotations

import contextlib
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from dateparser.date import DateDataParser
from dateparser.search import search_dates

from bot.clock import latest_passed
from storage import notes

_CJK = re.compile(r"[\u3400-\u9fff]")
# Day and month either way round, with the year last: 03/11/2025 is 3 November to most of
# the world and 11 March in the United States.
_EITHER_WAY = re.compile(r"(?<!\d)(\d{1,2})\s*[/.]\s*(\d{1,2})\s*[/.]\s*(\d{4})(?!\d)")
# What looks like a date or a clock time: if none of it was understood, ask.
_LOOKS_LIKE = re.compile(
    r"(?<!\d)\d{1,4}\s*[-/.年月]\s*\d{1,2}(?:\s*[-/.月日号]\s*\d{0,4})?|(?<!\d)\d{1,2}\s*:\s*\d{2}"
)
# Words that name a day: without one, a clock time is today's or yesterday's.
_DAY_WORDS = re.compile(
    r"[日号天周星期礼拜]|\d\s*[-/.]\s*\d|\b(?:today|tonight|yesterday|ago|last|this|"
    r"mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)",
    re.IGNORECASE,
)
# A month and a day without a year ("12月25日", "Dec 25", "12/25"): the latest one passed.
_MONTH_DAY = re.compile(
    r"\d\s*月|\d\s*[-/.]\s*\d|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)", re.IGNORECASE
)
_YEAR = re.compile(r"年|\d{4}")
_MINUTE = timedelta(minutes=60)  # "8点" is read as 20:00-20:59: that is 20:00
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Stated:
    """Where a note goes in the timeline.

    ``unclear`` holds the words that look like a date but could not be placed without a
    guess (the note is not kept; the person is asked); ``day_assumed`` says a time came
    without a day and was placed at the latest such time that had passed.
    """

    at: datetime | None
    basis: str
    unclear: str = ""
    day_assumed: bool = False


@dataclass(frozen=True)
class _Found:
    words: str
    start: datetime  # naive, local
    precise: bool  # to the minute, or only the day


def read_stated_time(text: str, now: datetime, tz: ZoneInfo) -> Stated:
    """When the note says it happened, and how precisely (a notes.* basis)."""
    plain = unicodedata.normalize("NFKC", text)
    either = _EITHER_WAY.search(plain)
    if either is not None and _either_way(either):
        return Stated(None, notes.WRITTEN, unclear=either.group(0))
    local_now = now.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0)
    found = list(_chinese(plain, local_now) if _CJK.search(plain) else _latin(plain, local_now))
    for candidate in found:
        placed = _place(candidate, local_now, tz)
        if placed is not None:
            return placed
    looks = _LOOKS_LIKE.search(plain)
    if looks is not None and not any(looks.group(0) in f.words for f in found):
        return Stated(None, notes.WRITTEN, unclear=looks.group(0).strip())
    return Stated(None, notes.WRITTEN)


def _either_way(match: re.Match[str]) -> bool:
    first, second = int(match.group(1)), int(match.group(2))
    return first != second and first <= 12 and second <= 12


def _place(found: _Found, local_now: datetime, tz: ZoneInfo) -> Stated | None:
    """The candidate placed in the past, or None when it cannot be."""
    named_day = _DAY_WORDS.search(found.words) is not None
    at = found.start if found.precise else datetime.combine(found.start.date(), time())
    if not named_day and found.precise:
        moment = latest_passed(local_now, at.time())
        return Stated(moment.replace(tzinfo=tz), notes.STATED_TIME, day_assumed=True)
    words = found.words
    if at.date() > local_now.date() and _MONTH_DAY.search(words) and not _YEAR.search(words):
        at = _year_before(at)
    if at > local_now:
        return None
    basis = notes.STATED_TIME if found.precise else notes.STATED_DAY
    return Stated(at.replace(tzinfo=tz), basis)


def _year_before(moment: datetime) -> datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


# ---- Chinese: JioNLP ----------------------------------------------------------------


@cache
def _jionlp() -> Any:
    # JioNLP and its tokenizer print a banner on import; on the console adapter stdout is
    # the conversation.
    with contextlib.redirect_stdout(io.StringIO()):
        import jionlp

    return jionlp


def _chinese(text: str, local_now: datetime) -> Iterator[_Found]:
    try:
        entities = _jionlp().ner.extract_time(text, time_base=local_now)
    except (ValueError, KeyError, IndexError, TypeError):
        return  # JioNLP raises on forms it half-recognises; what is left is asked about
    for entity in entities:
        if entity.get("type") not in ("time_point", "time_span"):
            continue
        found = _from_span(entity["text"], entity["detail"]["time"])
        if found is not None:
            yield found


def _from_span(words: str, span: list[str]) -> _Found | None:
    try:
        start, end = (datetime.fromisoformat(part) for part in span)
    except (ValueError, TypeError):
        return None  # an open end ("inf"): not a moment
    length = end - start
    if length < _MINUTE:
        return _Found(words, start, precise=True)
    if length < _DAY:
        return _Found(words, start, precise=False)  # a part of a day: that day
    return None  # a week, a month, a year: too vague to place


# ---- other languages: dateparser ----------------------------------------------------


def _latin(text: str, local_now: datetime) -> Iterator[_Found]:
    settings = {
        "RELATIVE_BASE": local_now,
        "PREFER_DATES_FROM": "past",
        "DATE_ORDER": "MDY",  # 11/03 without a year: November 3, as in Chinese usage
        "RETURN_TIME_AS_PERIOD": True,
    }
    hits = search_dates(text, languages=["en"], settings=settings) or []
    parser = DateDataParser(languages=["en"], settings=settings)
    for words, _ in hits:
        data = parser.get_date_data(words)
        moment = data.date_obj
        if moment is None or moment.replace(second=0, microsecond=0) == local_now:
            continue  # "now": the note's own time
        moment = moment.replace(tzinfo=None, second=0, microsecond=0)
        if data.period == "time":
            yield _Found(words, moment, precise=True)
        elif data.period in ("day", "part_of_day"):
            yield _Found(words, datetime.combine(moment.date(), time()), precise=False)
