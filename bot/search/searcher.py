"""Searching one case's evidence: by words, original sender, time window and kind.

One function serves the victim's `/search` and a staff search under an approved
retrieval (:meth:`Searcher.search`), so both follow the same rules:

- The case, the time window and the kinds are the SQL query's own conditions
  (storage/evidence_search.py). A staff search passes the approval's window as
  ``scope``: a query reaching outside it is refused (:class:`SearchRefused`) before
  anything is read, and an open query is narrowed to it; items outside it are never
  fetched, let alone decrypted.
- Rows are read a batch at a time, each batch in its own short transaction, and
  decrypted one item at a time outside it: memory stays bounded, and the write lock is
  never held while decrypting.
- Words are matched as bot/search/text_match.py describes (width, case, traditional and
  simplified alike; literally, never as patterns), in message texts, in the content of
  text documents and in file names. Pictures, voice messages and videos are matched by
  their file name only: the answer counts them, so nobody takes "nothing found" for
  "not there". No text recognition (OCR) runs in this build.
- ``masked=True`` passes every snippet, sender and file name through
  :func:`bot.masking.mask`, for staff.
- Each hit's row is checked against the log before it is shown (bot/evidence/vetting.py):
  a hit the log contradicts is shown by its number only, marked, and the victim's desk
  alerts the staff.
- Every search, whatever it finds (and every one refused), is a custody event: who
  searched, the query's shape and a keyed hash of it (never its words: log entries
  outlive an erasure) and how many results.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.evidence.vetting import contradicted
from bot.privacy.masking import mask
from bot.privacy.word_digest import QUERY_LABEL, keyed_digest
from bot.search.query import Query
from bot.search.text_match import Needle, needle
from storage import case_keys, custody, evidence_search
from storage.blobs import BlobError, Blobs
from storage.case_keys import CaseKeyErased, CaseKeyError
from storage.database import Database
from storage.evidence_search import Candidate, Scope, Window
from storage.keys import KeyRing
from storage.leaves import SALT_SIZE, CustodyEvent, utc_stamp
from storage.offload import offload
from storage.vault import ItemOpener, VaultError

log = logging.getLogger(__name__)

SEARCH = "search"
MAX_HITS = 20
SNIPPET_BEFORE = 24
SNIPPET_AFTER = 56
SEARCHED_KINDS = frozenset({"text"})
PICTURE_KINDS = frozenset({"photo"})
MEDIA_KINDS = frozenset({"voice", "audio", "video"})

# Statuses of a result.
FOUND = "found"  # the search ran; hits may be empty
ERASED = "erased"  # the case was erased: nothing can be found, ever
NO_EVIDENCE = "no_evidence"  # the case holds no evidence yet
REFUSED = "refused: outside the approved window"  # recorded, then SearchRefused raised


class SearchRefused(Exception):
    """The search may not run as asked; ``problem`` names the content text explaining it."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Hit:
    item_no: int
    kind: str
    event_time: datetime
    dated: bool
    """True when the time is the platform's original date, False when it is the time
    Haven received the item (no original date known)."""
    sender: str
    file_name: str
    snippet: str
    contradicted: tuple[str, ...] = ()
    """What the item's row says differently from the log (bot/evidence/vetting.py): then
    the hit carries none of the row's values, only its number."""


@dataclass(frozen=True)
class SearchResult:
    status: str
    window: Window
    """The window the query applied (after narrowing to a retrieval's scope)."""
    hits: tuple[Hit, ...] = ()
    """The first matches, by item number (at most ``max_hits``)."""
    total: int = 0
    """How many items matched in all."""
    examined: int = 0
    pictures_unsearched: int = 0
    """Pictures in scope whose content could not be searched (no OCR)."""
    media_unsearched: int = 0
    """Voice messages, audio and videos in scope, matched by name only."""
    unreadable: int = 0

    @property
    def contradicted(self) -> int:
        return sum(bool(hit.contradicted) for hit in self.hits)


@dataclass
class _Tally:
    max_hits: int
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    examined: int = 0
    pictures: int = 0
    media: int = 0
    unreadable: int = 0


@dataclass(frozen=True)
class _Request:
    needles: tuple[Needle, ...]
    sender: Needle | None
    masked: bool
    names: tuple[str, ...]


class Searcher:
    def __init__(
        self,
        db: Database,
        blobs: Blobs,
        ring: KeyRing,
        clock: Clock,
        batch_size: int = evidence_search.BATCH_SIZE,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.ring = ring
        self.clock = clock
        self.batch_size = batch_size

    async def search(
        self,
        case_id: int,
        query: Query,
        *,
        actor: str,
        scope: Window | None = None,
        masked: bool = False,
        names: Sequence[str] = (),
        max_hits: int = MAX_HITS,
        purpose: str = "",
    ) -> SearchResult:
        """Run ``query`` over case ``case_id`` and record it as a custody event.

        ``scope`` is an approved retrieval's window: SearchRefused("search.outside_window")
        when the query's own window is not inside it (the attempt is recorded too).
        ``names`` are names to mask besides phone numbers, ID and card numbers and e-mail
        addresses. ``purpose`` goes into the custody event (a retrieval's number, say).
        """
        request = _Request(
            needles=tuple(needle(term) for term in query.terms),
            sender=needle(query.sender) if query.sender else None,
            masked=masked,
            names=(*names, query.sender) if query.sender else tuple(names),
        )
        try:
            window = _window(query.window, scope)
        except SearchRefused:
            refused = SearchResult(status=REFUSED, window=query.window)
            await self._record(actor, case_id, query, refused, purpose)
            raise
        status, key = await self._key(case_id)
        tally = _Tally(max_hits)
        if status == FOUND:
            await self._scan(Scope(case_id, window, query.kinds), key, request, tally)
        result = SearchResult(
            status=status,
            window=window,
            hits=await self._vetted(case_id, tally.hits),
            total=tally.total,
            examined=tally.examined,
            pictures_unsearched=tally.pictures if request.needles else 0,
            media_unsearched=tally.media if request.needles else 0,
            unreadable=tally.unreadable,
        )
        await self._record(actor, case_id, query, result, purpose)
        return result

    async def _vetted(self, case_id: int, hits: list[Hit]) -> tuple[Hit, ...]:
        """The hits, those whose rows the log contradicts stripped of the row's values."""
        flagged = await contradicted(
            self.db, self.blobs, self.ring, case_id, [hit.item_no for hit in hits]
        )
        return tuple(
            Hit(hit.item_no, hit.kind, hit.event_time, False, "", "", "", flagged[hit.item_no])
            if hit.item_no in flagged
            else hit
            for hit in hits
        )

    async def _record(
        self,
        actor: str,
        case_id: int,
        query: Query,
        result: SearchResult,
        purpose: str,
    ) -> None:
        async with self.db.transaction() as conn:
            try:
                key = await case_keys.data_key(conn, self.ring, case_id)
            except CaseKeyError:
                key = b""
            await record_search(
                conn,
                actor=actor,
                case_id=case_id,
                query=query,
                window=result.window,
                result=result,
                at=self.clock.now(),
                case_key=key,
                purpose=purpose,
            )

    async def _key(self, case_id: int) -> tuple[str, bytes]:
        async with self.db.transaction() as conn:
            try:
                return FOUND, await case_keys.data_key(conn, self.ring, case_id)
            except CaseKeyErased:
                return ERASED, b""
            except CaseKeyError:
                if await evidence_search.count(conn, Scope(case_id)):
                    raise
                return NO_EVIDENCE, b""

    async def _scan(self, scope: Scope, key: bytes, request: _Request, tally: _Tally) -> None:
        opener = ItemOpener(key)
        last = 0
        while True:
            async with self.db.transaction() as conn:
                rows = await evidence_search.candidates(
                    conn, scope, after_item_no=last, limit=self.batch_size
                )
            if not rows:
                return
            last = rows[-1].item_no
            for item in rows:
                await self._examine(item, opener, request, tally)

    async def _examine(
        self, item: Candidate, opener: ItemOpener, request: _Request, tally: _Tally
    ) -> None:
        tally.examined += 1
        sender = _sender(item)
        if request.sender is not None and request.sender.find(sender) is None:
            return
        content = b""
        if _has_text(item) and (request.needles or len(tally.hits) < tally.max_hits):
            try:
                content = await self._content(item, opener)
            except (BlobError, VaultError) as exc:
                log.warning("search: item %s could not be opened: %s", item.item_id, exc)
                tally.unreadable += 1
                return
        elif item.kind in PICTURE_KINDS:
            tally.pictures += 1
        elif item.kind in MEDIA_KINDS:
            tally.media += 1
        name = "" if item.kind == "text" else item.file_name
        if not all(n.in_utf8(content) or n.find(name) for n in request.needles):
            return
        tally.total += 1
        if len(tally.hits) < tally.max_hits:
            text = content.decode("utf-8", errors="replace")
            tally.hits.append(_hit(item, sender, f"{text}\n{name}".strip(), request))

    async def _content(self, item: Candidate, opener: ItemOpener) -> bytes:
        """The item's content, without its salt; inline texts are opened in place."""
        sealed = item.sealed if item.blob is None else await self.blobs.aget(item.blob)
        if sealed is None:
            raise VaultError(f"item {item.item_id!r} has no ciphertext")
        plain = await offload(len(sealed), opener.open, sealed, item.item_id)
        return plain[SALT_SIZE:]


def _window(asked: Window, scope: Window | None) -> Window:
    if scope is None:
        return asked
    if not asked.is_open and not asked.within(scope):
        raise SearchRefused("search.outside_window")
    return asked.narrowed_to(scope)


def _has_text(item: Candidate) -> bool:
    return item.kind in SEARCHED_KINDS or item.mime_type.startswith("text/")


def _sender(item: Candidate) -> str:
    return " ".join(part for part in (item.sender, item.signature) if part)


def _hit(item: Candidate, sender: str, haystack: str, request: _Request) -> Hit:
    file_name = "" if item.kind == "text" else item.file_name
    if request.masked:
        haystack = mask(haystack, names=request.names)
        sender = mask(sender, names=(*request.names, sender))
        file_name = mask(file_name, names=request.names)
    return Hit(
        item_no=item.item_no,
        kind=item.kind,
        event_time=item.event_time,
        dated=item.original_date is not None,
        sender=sender,
        file_name=file_name,
        snippet=snippet(haystack, request.needles),
    )


def snippet(text: str, needles: Sequence[Needle]) -> str:
    """A short extract of ``text`` around the first match, on one line."""
    found = next((m for n in needles if (m := n.find(text)) is not None), None)
    start = max(0, found.start() - SNIPPET_BEFORE) if found else 0
    end = min(len(text), (found.end() if found else 0) + SNIPPET_AFTER)
    extract = " ".join(text[start:end].split())
    return ("…" if start else "") + extract + ("…" if end < len(text.rstrip()) else "")


async def record_search(
    conn: AsyncConnection,
    *,
    actor: str,
    case_id: int,
    query: Query,
    window: Window,
    result: SearchResult,
    at: datetime,
    case_key: bytes = b"",
    purpose: str = "",
) -> None:
    """The search as a custody event: its shape and what it found, never its words.

    A custody event becomes a permanent log leaf, which outlives an erasure: the words
    a victim searched for (or a sender's name) must not be in it, masked or not. The
    event counts the words, says whether a sender was asked for, gives the window and
    the kinds, and — while the case has a data key — a hash of the query keyed by that
    key, so whoever holds the case key can tell which query it was. Erasure destroys the
    key, and with it any way of testing a guess against the hash.
    """
    parts = [f"{len(query.terms)} word(s)"]
    if query.sender:
        parts.append("a sender")
    if window.start is not None:
        parts.append(f"after:{utc_stamp(window.start)}")
    if window.end is not None:
        parts.append(f"before:{utc_stamp(window.end)}")
    if query.kinds:
        parts.append("kind:" + ",".join(sorted(query.kinds)))
    if case_key:
        parts.append(f"query {query_digest(case_key, query)}")
    outcome = f"{result.total} result(s)" if result.status == FOUND else result.status
    reason = f"{', '.join(parts)} -> {outcome}"
    if purpose:
        reason = f"{purpose}: {reason}"
    event = CustodyEvent(actor=actor, action=SEARCH, at=at, case_id=case_id, reason=reason)
    await custody.record(conn, event)


def query_digest(case_key: bytes, query: Query) -> str:
    """HMAC-SHA256 of the query's words and sender under the case's data key, shortened:
    the same query of the same case gives the same digest; nobody without the key can
    test a guess against it."""
    words = json.dumps([sorted(query.terms), query.sender], ensure_ascii=False)
    return keyed_digest(case_key, QUERY_LABEL, words)
