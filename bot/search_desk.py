"""The victim's `/search`: their own case's evidence, by words, sender, dates and kind.

Like `/export`, the search runs before the turn's transaction (bot/dispatch.py): it
reads and decrypts batch by batch in short transactions of its own (bot/search.py), and
the turn then only says what it found. The victim sees their own evidence unmasked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.events import Inbound
from bot.flow import Turn
from bot.prompts import Prompts
from bot.search import ERASED, NO_EVIDENCE, Hit, Searcher, SearchResult
from bot.search_query import QueryError, parse_query
from storage import cases
from storage.database import Database

log = logging.getLogger(__name__)

VICTIM = "victim"
_TIME = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class Found:
    """What `/search` found, or the content key (and its fields) saying why nothing ran."""

    result: SearchResult | None = None
    problem: str = ""
    fields: dict[str, object] = field(default_factory=dict)


class SearchDesk:
    def __init__(self, db: Database, searcher: Searcher, prompts: Prompts, tz: ZoneInfo):
        self.db = db
        self.searcher = searcher
        self.prompts = prompts
        self.tz = tz

    async def prepare(self, inbound: Inbound) -> Found:
        identity = inbound.identity
        async with self.db.transaction() as conn:
            case = await cases.find_open(conn, identity.platform, identity.user_id)
        if case is None:
            return Found(problem="search.no_evidence")
        try:
            query = parse_query(inbound.args, self.tz)
        except QueryError as exc:
            log.info("case %s: a search was refused (%s)", case.id, exc.problem)
            return Found(problem=exc.problem, fields=dict(exc.fields))
        if query.is_empty:
            example = self.searcher.clock.now().astimezone(self.tz).strftime("%Y-%m-%d")
            return Found(problem="search.help", fields={"example": example})
        result = await self.searcher.search(case.id, query, actor=VICTIM)
        log.info("case %s: a search found %d item(s)", case.id, result.total)
        return Found(result)

    def reply(self, turn: Turn, found: Found) -> None:
        result = found.result
        if result is None:
            turn.say(self._t(turn, found.problem, **found.fields))
            return
        if result.status == ERASED:
            turn.say(self._t(turn, "search.erased"))
            return
        if result.status == NO_EVIDENCE:
            turn.say(self._t(turn, "search.no_evidence"))
            return
        lines = [
            self._t(turn, "search.results", count=result.total)
            if result.total
            else self._t(turn, "search.none")
        ]
        lines += [self._hit(turn, hit) for hit in result.hits]
        if result.total > len(result.hits):
            lines.append(self._t(turn, "search.more", count=result.total - len(result.hits)))
        if result.pictures_unsearched:
            lines.append(self._t(turn, "search.pictures", count=result.pictures_unsearched))
        if result.media_unsearched:
            lines.append(self._t(turn, "search.media", count=result.media_unsearched))
        if result.unreadable:
            lines.append(self._t(turn, "search.unreadable", count=result.unreadable))
        turn.say("\n".join(lines))

    def _hit(self, turn: Turn, hit: Hit) -> str:
        when = hit.event_time.astimezone(self.tz).strftime(_TIME)
        if not hit.dated:
            when += " " + self._t(turn, "timeline.basis_received")
        kind = self._t(turn, f"evidence.kind.{hit.kind}")
        parts = [f"#{hit.item_no}", when, kind]
        parts += [part for part in (hit.sender, hit.snippet) if part]
        return " · ".join(parts)

    def _t(self, turn: Turn, key: str, **fields: object) -> str:
        return self.prompts.t(turn.case, key, **fields)
