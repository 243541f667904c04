"""The victim's `/search`: their own case's evidence, by words, sender, dates and kind.

Like `/export`, the search runs before the turn's transaction (bot/dispatch.py): it
reads and decrypts batch by batch in short transactions of its own (bot/search/searcher.py), and
the turn then only says what it found. The victim sees their own evidence unmasked.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.content.prompts import Prompts
from bot.conversation.flow import Turn
from bot.events import Inbound
from bot.evidence.vetting import ALERT_REASON
from bot.search.query import QueryError, parse_query
from bot.search.results import describe
from bot.search.searcher import Searcher, SearchResult
from storage import cases
from storage.database import Database

log = logging.getLogger(__name__)

VICTIM = "victim"


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
            case = await cases.find_current(conn, identity.platform, identity.user_id)
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
        turn.say(describe(result, functools.partial(self.prompts.t, turn.case), self.tz))
        if result.contradicted:
            turn.alert(ALERT_REASON)

    def _t(self, turn: Turn, key: str, **fields: object) -> str:
        return self.prompts.t(turn.case, key, **fields)
