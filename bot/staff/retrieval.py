"""Retrieval: reading a victim's evidence takes two people, a reason, a window and a clock.

`/retrieve N --from … --to … --reason …` asks; an admin who is someone else approves with
`/approve R` (with a TOTP code, RFC 6238, when that admin has one configured; the
requester likewise gives `--totp` when they have one). The bundle of the case's items
that happened in the window (original date, else time received) is then built
(bot/evidence/export.py, verified before it is handed over) and sent privately to the requester;
`/fetch R` sends it again and `/search R …` searches within the same window until the
retrieval expires. Every step, and every refusal, is a custody event of the case.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyotp
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.prompts import Reply
from bot.delivery.outbox import queue_reply
from bot.events import ChatKind, ChatRef, OutboundFile
from bot.evidence.export import export_case, retrieval_copies, retrieval_path
from bot.evidence.store import OperatorError, Store
from bot.search.query import QueryError, parse_query
from bot.search.results import describe
from bot.search.searcher import Searcher, SearchRefused
from bot.staff.access import StaffRef
from bot.staff.ask import Ask, case_number
from bot.staff.texts import StaffTexts
from storage import cases, custody, retrievals
from storage.evidence_search import Window
from storage.leaves import CustodyEvent
from storage.retrievals import Retrieval

log = logging.getLogger(__name__)

REQUESTED = "retrieval_requested"
APPROVED = "retrieval_approved"
DENIED = "retrieval_denied"
RETRIEVE = "retrieve"
REFUSED = "refused"
_OPTION = re.compile(r"(?:^|\s)--(from|to|reason|totp)(?=\s|$)")
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d")


class RetrievalDesk:
    ACTIONS = frozenset({"retrieve", "approve", "deny", "fetch"})
    SEARCH = "search"

    def __init__(
        self,
        store: Store,
        words: StaffTexts,
        ttl: timedelta,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.searcher = Searcher(store.db, store.blobs, store.keyring, store.clock)
        self.words = words
        self.ttl = ttl
        self._on_outbox = on_outbox
        self._delivering = asyncio.Lock()

    @property
    def zone(self) -> ZoneInfo:
        return self.words.zone

    async def case_of(self, conn: AsyncConnection, action: str, args: str) -> int | None:
        """The case a command is about (for refusals): its own number, or its retrieval's."""
        number = case_number(args)
        if number is None or action not in ("approve", "deny", "fetch", self.SEARCH):
            return number
        found = await retrievals.get(conn, number)
        return found.case_id if found else None

    async def act(self, conn: AsyncConnection, action: str, ask: Ask) -> list[Reply]:
        if action == "retrieve":
            return await self._request(conn, ask)
        number = case_number(ask.args)
        if number is None:
            return self._usage(f"/{action} R")
        found = await retrievals.get(conn, number)
        if found is None:
            return [Reply(self.words.t("retrieval.unknown", id=number))]
        if action == "approve":
            return await self._approve(conn, ask, found)
        if action == "deny":
            return await self._deny(conn, ask, found)
        return await self._fetch(conn, ask, found)

    # ---- asking -----------------------------------------------------------------------

    async def _request(self, conn: AsyncConnection, ask: Ask) -> list[Reply]:
        usage = "/retrieve N --from YYYY-MM-DD[THH:MM] --to YYYY-MM-DD[THH:MM] --reason TEXT"
        number = case_number(ask.args)
        options = _options(ask.args)
        start = _moment(options.get("from", ""), self.zone, end=False)
        end = _moment(options.get("to", ""), self.zone, end=True)
        reason = options.get("reason", "").strip()
        if number is None or start is None or end is None or not reason:
            return self._usage(usage)
        if end <= start:
            return [Reply(self.words.t("retrieval.bad_window"))]
        if await cases.get(conn, number) is None:
            return [Reply(self.words.t("staff.no_such_case", case_id=number))]
        refusal = await self._second_factor(conn, ask, number, options.get("totp", ""))
        if refusal:
            return refusal
        made = await retrievals.request(
            conn,
            case_id=number,
            requester=ask.member.actor,
            window=(start, end),
            reason=reason,
            now=ask.now,
            expires_at=ask.now + self.ttl,
        )
        await self._custody(conn, ask.member.actor, REQUESTED, made, ask.now, f": {reason}")
        return [
            Reply(
                self.words.t(
                    "retrieval.requested",
                    id=made.id,
                    case_id=number,
                    start=self.words.at(start),
                    end=self.words.at(end),
                    who=ask.member.label,
                    expires=self.words.at(made.expires_at),
                )
            )
        ]

    # ---- deciding ---------------------------------------------------------------------

    async def _approve(self, conn: AsyncConnection, ask: Ask, found: Retrieval) -> list[Reply]:
        refusal = await self._undecidable(conn, ask, found)
        if refusal:
            return refusal
        if found.requester == ask.member.actor:
            await self._custody(conn, ask.member.actor, REFUSED, found, ask.now, ": own request")
            return [Reply(self.words.t("retrieval.own_request", id=found.id))]
        code = ask.args.split()[1] if len(ask.args.split()) > 1 else ""
        refusal = await self._second_factor(conn, ask, found.case_id, code)
        if refusal:
            return refusal
        approved = await retrievals.move(
            conn,
            found,
            retrievals.APPROVED,
            approved_by=ask.member.actor,
            approved_at=ask.now,
            expires_at=ask.now + self.ttl,
        )
        if not approved:
            return [self._decided(found)]
        await self._custody(conn, ask.member.actor, APPROVED, found, ask.now)
        log.info("retrieval %s approved by %s", found.id, ask.member.actor)
        return [
            Reply(
                self.words.t(
                    "retrieval.approved",
                    id=found.id,
                    who=self.words.who(found.requester),
                    expires=self.words.at(ask.now + self.ttl),
                )
            )
        ]

    async def _deny(self, conn: AsyncConnection, ask: Ask, found: Retrieval) -> list[Reply]:
        refusal = await self._undecidable(conn, ask, found)
        if refusal:
            return refusal
        if not await retrievals.move(conn, found, retrievals.DENIED, approved_by=ask.member.actor):
            return [self._decided(found)]
        await self._custody(conn, ask.member.actor, DENIED, found, ask.now)
        return [Reply(self.words.t("retrieval.denied", id=found.id))]

    async def _undecidable(
        self, conn: AsyncConnection, ask: Ask, found: Retrieval
    ) -> list[Reply] | None:
        """Why the request can no longer be decided, if it cannot."""
        if found.state == retrievals.REQUESTED and ask.now >= found.expires_at:
            await retrievals.move(conn, found, retrievals.EXPIRED)
            await self._custody(conn, ask.member.actor, REFUSED, found, ask.now, ": expired")
            return [Reply(self.words.t("retrieval.expired", id=found.id))]
        if found.state != retrievals.REQUESTED:
            return [self._decided(found)]
        return None

    def _decided(self, found: Retrieval) -> Reply:
        state = self.words.t(f"retrieval.state_{found.state}")
        return Reply(self.words.t("retrieval.already", id=found.id, state=state))

    async def _fetch(self, conn: AsyncConnection, ask: Ask, found: Retrieval) -> list[Reply]:
        refusal = await self._unusable(conn, ask, found)
        if refusal:
            return refusal
        await retrievals.redeliver(conn, found.id)
        return [Reply(self.words.t("retrieval.fetching", id=found.id))]

    async def _unusable(
        self, conn: AsyncConnection, ask: Ask, found: Retrieval
    ) -> list[Reply] | None:
        """Why ``ask`` may not use retrieval ``found`` now; None when it may."""
        if found.requester != ask.member.actor:
            await self._custody(conn, ask.member.actor, REFUSED, found, ask.now, ": not requester")
            return [Reply(self.words.t("retrieval.not_yours", id=found.id))]
        if found.state != retrievals.APPROVED:
            return [self._decided(found)]
        if ask.now >= found.expires_at:
            await self._custody(conn, ask.member.actor, REFUSED, found, ask.now, ": expired")
            return [Reply(self.words.t("retrieval.expired", id=found.id))]
        return None

    # ---- searching --------------------------------------------------------------------

    async def search(self, ask: Ask) -> list[Reply]:
        """`/search R QUERY`: retrieval R's case, only within its approved window, masked.

        Runs outside the staff desk's transaction, like the victim's search: it reads and
        decrypts in short transactions of its own, and records itself as a custody event.
        """
        head, _, text = ask.args.strip().partition(" ")
        number = case_number(head)
        if number is None or not text.strip():
            return self._usage("/search R WORDS [from:NAME] [after:DATE] [before:DATE] [kind:KIND]")
        async with self.store.db.transaction() as conn:
            found = await retrievals.get(conn, number)
            if found is None:
                return [Reply(self.words.t("retrieval.unknown", id=number))]
            refusal = await self._unusable(conn, ask, found)
        if refusal:
            return refusal
        try:
            query = parse_query(text, self.zone)
            result = await self.searcher.search(
                found.case_id,
                query,
                actor=ask.member.actor,
                scope=Window(found.window_start, found.window_end),
                masked=True,
                purpose=f"retrieval {found.id}",
            )
        except QueryError as exc:
            return [Reply(self.words.t(exc.problem, **exc.fields))]
        except SearchRefused as exc:
            return [Reply(self.words.t(exc.problem))]
        log.info("retrieval %s: a staff search found %d item(s)", found.id, result.total)
        return [Reply(describe(result, self.words.t, self.zone))]

    async def _second_factor(
        self, conn: AsyncConnection, ask: Ask, case_id: int, code: str
    ) -> list[Reply] | None:
        """A TOTP code, when this staff member has one configured; a refusal if it is wrong."""
        if not ask.member.totp_secret_env:
            return None
        if _totp_ok(ask.member, code, ask.now):
            return None
        log.warning("retrieval step by %s refused: TOTP code missing or wrong", ask.member.actor)
        event = CustodyEvent(
            actor=ask.member.actor, action=REFUSED, at=ask.now, case_id=case_id, reason="TOTP"
        )
        await custody.record(conn, event)
        return [Reply(self.words.t("retrieval.totp_wrong"))]

    # ---- delivering -------------------------------------------------------------------

    async def deliver_approved(self) -> int:
        """Build and send every approved retrieval not yet delivered; return how many."""
        delivered = 0
        async with self._delivering:
            now = self.store.clock.now()
            async with self.store.db.transaction() as conn:
                waiting = await retrievals.undelivered(conn, now)
            for found in waiting:
                delivered += await self._deliver(found)
            await self._remove_expired_bundles()
        return delivered

    async def _remove_expired_bundles(self) -> None:
        """An expired retrieval's bundle is plaintext nobody may fetch any more: delete it."""
        async with self.store.db.transaction() as conn:
            expired = await retrievals.expired_ids(conn, self.store.clock.now())
        for bundle in await asyncio.to_thread(retrieval_copies, self.store, expired):
            await asyncio.to_thread(bundle.unlink, missing_ok=True)
            log.info("removed the bundle of an expired retrieval: %s", bundle.name)

    async def _deliver(self, found: Retrieval) -> int:
        now = self.store.clock.now()
        out = retrieval_path(self.store, found.id, found.case_id)
        platform, _, user_id = found.requester.partition(":")
        chat = ChatRef(platform, user_id, ChatKind.PRIVATE)
        try:
            exported = await export_case(
                self.store,
                found.case_id,
                out,
                actor=found.requester,
                reason=f"retrieval #{found.id} approved by {found.approved_by}",
                action=RETRIEVE,
                window=(found.window_start, found.window_end),
            )
        except OperatorError as exc:
            log.error("retrieval %s could not be built: %s", found.id, exc)
            reply = Reply(self.words.t("retrieval.failed", id=found.id, error=str(exc)))
            file = None
        else:
            text = self.words.t(
                "retrieval.delivered", id=found.id, case_id=found.case_id, items=exported.items
            )
            file = OutboundFile(str(out), out.name, "application/zip")
            reply = Reply(text, file=file)
        async with self.store.db.transaction() as conn:
            if not await retrievals.mark_delivered(conn, found.id, now):
                return 0
            await queue_reply(conn, chat, reply, found.case_id, now)
        self._on_outbox()
        return 1 if file is not None else 0

    # ---- shared -----------------------------------------------------------------------

    def _usage(self, usage: str) -> list[Reply]:
        return [Reply(self.words.t("staff.usage", usage=usage))]

    async def _custody(
        self,
        conn: AsyncConnection,
        actor: str,
        action: str,
        found: Retrieval,
        now: datetime,
        detail: str = "",
    ) -> None:
        reason = f"retrieval #{found.id}{detail}"
        event = CustodyEvent(
            actor=actor, action=action, at=now, case_id=found.case_id, reason=reason
        )
        await custody.record(conn, event)


def _options(args: str) -> dict[str, str]:
    """`--from X --to Y --reason some words` → {"from": "X", "to": "Y", "reason": "…"}."""
    parts = _OPTION.split(args)
    # parts: [before, name, value, name, value, …]
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _moment(text: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """A local date or date and time; a bare date as --to means to the end of that day."""
    for form in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(text.strip(), form)
        except ValueError:
            continue
        if form == "%Y-%m-%d" and end:
            parsed = datetime.combine(parsed.date() + timedelta(days=1), time())
        return parsed.replace(tzinfo=zone)
    return None


def _totp_ok(member: StaffRef, code: str, now: datetime) -> bool:
    secret = os.environ.get(member.totp_secret_env, "")
    if not secret:
        log.error(
            "%s has totp_secret_env %s, but it is not set", member.actor, member.totp_secret_env
        )
        return False
    try:
        return bool(pyotp.TOTP(secret).verify(code.strip(), for_time=now, valid_window=1))
    except Exception:  # a malformed secret in the environment: refuse, never crash
        log.exception("the TOTP secret in %s cannot be used", member.totp_secret_env)
        return False
