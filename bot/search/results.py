"""What a search found, as the lines of one chat message, for victims and staff alike.

``t`` looks up a text in the reader's language: the victim's case locale, or the staff
channel's. Staff results carry masked snippets already (bot/search/searcher.py masks them).
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from bot.search.searcher import ERASED, NO_EVIDENCE, Hit, SearchResult

_TIME = "%Y-%m-%d %H:%M"


Lookup = Callable[..., str]
"""``t(key, **fields)``: a text in the reader's language."""


def describe(result: SearchResult, t: Lookup, tz: ZoneInfo) -> str:
    if result.status == ERASED:
        return t("search.erased")
    if result.status == NO_EVIDENCE:
        return t("search.no_evidence")
    lines = [t("search.results", count=result.total) if result.total else t("search.none")]
    lines += [_hit(hit, t, tz) for hit in result.hits]
    if result.total > len(result.hits):
        lines.append(t("search.more", count=result.total - len(result.hits)))
    if result.pictures_unsearched:
        lines.append(t("search.pictures", count=result.pictures_unsearched))
    if result.media_unsearched:
        lines.append(t("search.media", count=result.media_unsearched))
    if result.unreadable:
        lines.append(t("search.unreadable", count=result.unreadable))
    return "\n".join(lines)


def _hit(hit: Hit, t: Lookup, tz: ZoneInfo) -> str:
    if hit.contradicted:
        return f"#{hit.item_no} · {t('search.contradicted')}"
    when = hit.event_time.astimezone(tz).strftime(_TIME)
    if not hit.dated:
        when += " " + t("timeline.basis_received")
    parts = [f"#{hit.item_no}", when, t(f"evidence.kind.{hit.kind}")]
    parts += [part for part in (hit.sender, hit.snippet) if part]
    return " · ".join(parts)
