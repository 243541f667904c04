"""Delivering the outbox: rows become network calls, in order per chat, with retries.

A row is written in the transaction that decided to say something; this sender only
reads rows, calls the adapter and records the result, so a crash at any point leaves the
message either sent or still pending — never lost.

Per adapter: a rate budget (global and per chat), exponential backoff with jitter for
network errors and 5xx, the platform's own retry-after for 429 (the whole adapter waits,
as flood control is per bot), and after the last attempt a dead letter plus an alert to
the staff channels, written in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapter import Adapter, DeliveryError
from bot.clock import Clock
from bot.content.playbook import Texts
from bot.content.prompts import Reply
from bot.delivery.handover_files import HandoverFiles
from bot.delivery.ratelimit import RateBudget, RateLimiter
from bot.events import Button, ChatKind, ChatRef, Outbound, OutboundFile
from storage import outbox
from storage.database import Database
from storage.group_commit import DatabaseClosed
from storage.outbox import NewMessage, OutboxRow

log = logging.getLogger(__name__)

_ERROR_IN_ALERT = 160
# Group commit of "sent" marks: at most this many sends, or this long, between commits.
MARK_EVERY = 20
MARK_WITHIN_SECONDS = 0.05
# Rows read at once; a full batch means more may be due, so the pass reads again.
DUE_BATCH = 100
# A chat another instance is sending to is looked at again this soon.
LOCKED_CHAT_RECHECK_SECONDS = 0.2


class ChatLocks(Protocol):
    """One sender per chat across instances (bot/cluster/chat_locks.py); none on SQLite."""

    async def acquire(self, platform: str, chats: Collection[str]) -> set[str]:
        """Take the chats nobody else holds; return those taken."""

    def holds(self, platform: str, chat: str) -> bool:
        """Still held (a lost coordination session loses every chat at once)."""

    async def release(self, platform: str, chats: Collection[str]) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_seconds: float = 1.0
    cap_seconds: float = 300.0

    def backoff(self, failures: int) -> timedelta:
        """After the n-th failure: a random wait between half and all of base·2^(n-1),
        capped. The jitter keeps many chats that failed together from retrying together."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (failures - 1))
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


@dataclass(frozen=True)
class StaffNotice:
    """Where dead letters are reported: the staff channels, in the staff's language."""

    channels: tuple[ChatRef, ...]
    texts: Texts
    locale: str

    def about(self, row: OutboxRow, error: str) -> list[NewMessage]:
        # Case number, platform and error only: never the message, which may be personal.
        details = " · ".join(
            part
            for part in (
                f"#{row.case_id}" if row.case_id is not None else "",
                row.platform,
                error[:_ERROR_IN_ALERT],
            )
            if part
        )
        text = f"{self.texts.get(self.locale, 'delivery.dead_letter')} {details}"
        return [
            NewMessage(
                channel.platform,
                channel.chat_id,
                payload_of(channel, Reply(text)),
                row.case_id,
            )
            for channel in self.channels
        ]


def payload_of(
    chat: ChatRef,
    reply: Reply,
    key: str = "",
    *,
    edit_of_row: int | None = None,
    reply_to_row: int | None = None,
) -> dict[str, Any]:
    """What an outbox row stores for one message; `to_outbound` reads it back.

    ``edit_of_row`` names the outbox row of an earlier message to this chat that this one
    replaces (an alert updated once acknowledged); ``reply_to_row`` one it answers (a
    victim's words posted in the thread of their case's alert). The platform's id for
    that message is only known once it was sent, so the sender looks it up at delivery.
    """
    payload: dict[str, Any] = {
        "kind": str(chat.kind),
        "text": reply.text,
        "buttons": [[{"label": b.label, "data": b.data} for b in row] for row in reply.buttons],
    }
    if key:
        payload["key"] = key
    if reply.file is not None:
        payload["file"] = {
            "path": reply.file.path,
            "file_name": reply.file.file_name,
            "mime_type": reply.file.mime_type,
        }
    if edit_of_row is not None:
        payload["edit_of_row"] = edit_of_row
    if reply_to_row is not None:
        payload["reply_to_row"] = reply_to_row
    return payload


async def queue_reply(
    conn: AsyncConnection,
    chat: ChatRef,
    reply: Reply,
    case_id: int | None,
    now: datetime,
    *,
    edit_of_row: int | None = None,
    reply_to_row: int | None = None,
) -> int:
    """Write ``reply`` to ``chat`` into the outbox, in the caller's transaction."""
    return await outbox.enqueue(
        conn,
        platform=chat.platform,
        chat_id=chat.chat_id,
        payload=payload_of(chat, reply, edit_of_row=edit_of_row, reply_to_row=reply_to_row),
        case_id=case_id,
        now=now,
    )


async def queue_replies(
    conn: AsyncConnection,
    chat: ChatRef,
    replies: Sequence[Reply],
    case_id: int | None,
    now: datetime,
) -> None:
    """Write ``replies`` to ``chat`` into the outbox in one statement, in their order."""
    messages = [
        outbox.NewMessage(chat.platform, chat.chat_id, payload_of(chat, reply), case_id)
        for reply in replies
    ]
    await outbox.enqueue_many(conn, messages, now)


def to_outbound(row: OutboxRow, edit_of: str = "", reply_to: str = "") -> Outbound:
    """The message an outbox row holds; ``edit_of`` is the platform id it replaces,
    ``reply_to`` the one it answers."""
    payload: Mapping[str, Any] = row.payload
    buttons = tuple(
        tuple(Button(b["label"], b["data"]) for b in line) for line in payload.get("buttons", [])
    )
    chat = ChatRef(row.platform, row.chat_id, ChatKind(payload.get("kind", "private")))
    file = payload.get("file")
    return Outbound(
        chat=chat,
        text=payload.get("text", ""),
        buttons=buttons,
        file=OutboundFile(file["path"], file["file_name"], file["mime_type"]) if file else None,
        edit_of=edit_of,
        key=payload.get("key", ""),
        reply_to=reply_to,
    )


class _SentMarks:
    """The rows sent, and the writing of their "sent" marks, across passes.

    Each write is a transaction, and each transaction a durable commit in the one write
    pipeline that the victims' turns wait in too. So marks are written together: once
    MARK_EVERY sends wait for theirs, or MARK_WITHIN_SECONDS after the first of them,
    whichever comes first (under load, in a group commit with the turns that queued
    meanwhile); a slow send (a real network call) is marked at once. That bounds what a
    crash can make Haven send twice. Nothing waits for those writes but :meth:`flush`:
    until a row's mark is committed it still looks pending, and every read passes over
    the rows in ``unmarked``. A write that fails gives its rows back to the next pass,
    which sends them again: at least once, never lost.
    """

    def __init__(self, db: Database, handover: HandoverFiles | None) -> None:
        self.db = db
        self.handover = handover
        self.sent: dict[int, str] = {}  # row id -> the platform's message id, until marked
        self.unmarked: set[int] = set()  # sent rows whose mark is not written yet
        self._unwritten: list[tuple[int, str, datetime]] = []
        self._files: dict[int, str] = {}  # sent row id -> the file it handed over
        self._timer: asyncio.TimerHandle | None = None
        self._writing: set[asyncio.Task[None]] = set()

    def add(
        self, row: OutboxRow, message_id: str, at: datetime, took: float, *, uploaded: bool
    ) -> None:
        self.sent[row.id] = message_id
        self.unmarked.add(row.id)
        self._unwritten.append((row.id, message_id, at))
        file = row.payload.get("file")
        if uploaded and file:
            self._files[row.id] = file["path"]
        if len(self._unwritten) >= MARK_EVERY or took >= MARK_WITHIN_SECONDS:
            self._write_now()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(MARK_WITHIN_SECONDS, self._write_now)

    def _write_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._unwritten:
            return
        marks, self._unwritten = self._unwritten, []
        task = asyncio.ensure_future(self._write(marks))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, marks: list[tuple[int, str, datetime]]) -> None:
        row_ids = [row_id for row_id, _, _ in marks]
        try:
            # One statement for all the marks (an UPDATE run for each), needing no
            # transaction: a mark written twice or alone is still right.
            async with self.db.autocommit() as conn:
                await outbox.mark_sent_many(conn, marks)
        except Exception as exc:
            self._forget(row_ids)  # a later pass, or the next start, sends them again
            if isinstance(exc, DatabaseClosed):
                log.warning("%d sent message(s) not marked before closing", len(marks))
            else:
                log.exception("%d sent message(s) could not be marked", len(marks))
            return
        delivered = self._forget(row_ids)
        if delivered and self.handover is not None:
            # Only once marked: a row sent again after a crash still finds its file.
            await self.handover.remove(delivered)

    def _forget(self, row_ids: list[int]) -> list[str]:
        """Stop passing over these rows; the files they handed over."""
        self.unmarked.difference_update(row_ids)
        for row_id in row_ids:
            self.sent.pop(row_id, None)
        return [self._files.pop(row_id) for row_id in row_ids if row_id in self._files]

    async def flush(self) -> None:
        """Write what is left and wait until every mark is committed."""
        self._write_now()
        while self._writing:
            await asyncio.gather(*self._writing)


class _Result(Enum):
    SENT = "sent"
    FAILED = "failed"
    PLATFORM_WAITS = "platform waits"


class OutboxSender:
    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, Adapter],
        clock: Clock,
        notice: StaffNotice,
        *,
        policy: RetryPolicy | None = None,
        budgets: Mapping[str, RateBudget] | None = None,
        idle_poll_seconds: float = 1.0,
        handover: HandoverFiles | None = None,
        chat_locks: ChatLocks | None = None,
    ) -> None:
        self.db = db
        self.chat_locks = chat_locks
        self.adapters = adapters
        self.clock = clock
        self.notice = notice
        self.handover = handover
        self.policy = policy or RetryPolicy()
        self.idle_poll_seconds = idle_poll_seconds
        budgets = budgets or {}
        self._limiters = {name: RateLimiter(budgets.get(name, RateBudget())) for name in adapters}
        self._platform_waits_until: dict[str, datetime] = {}
        self._recheck_in: float | None = None
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()
        # drain() calls made, and how many of them the latest pass started after.
        self._requested = 0
        self._covered = 0
        self._queued_here = False  # this pass queued rows itself (dead-letter notices)
        self._marks = _SentMarks(db, handover)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Drain whenever woken, and at least every poll interval for retries."""
        while True:
            self._wake.clear()
            await self.drain()
            wait = min(self.idle_poll_seconds, self._recheck_in or self.idle_poll_seconds)
            # asyncio.timeout, not wait_for: on 3.11, wait_for drops a cancel that lands
            # in the same turn as a wake-up, and shutdown would wait for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def drain(self) -> int:
        """Send everything due now; return how many messages went out.

        One drain at a time: two concurrent passes would read the same pending rows and
        send them twice.
        """
        self._requested += 1
        ticket = self._requested
        sent = 0
        async with self._draining:
            if self._covered >= ticket:
                # A pass that began after this call has run: it read everything this
                # caller could have read, so another pass would only read again.
                return 0
            self._covered = self._requested
            self._recheck_in = None
            for platform, adapter in self.adapters.items():
                sent += await self._drain_platform(platform, adapter)
        return sent

    def _recheck_after(self, seconds: float) -> None:
        self._recheck_in = min(seconds, self._recheck_in or seconds)

    async def sweep_handover_files(self) -> None:
        """Exports left behind by a crash and needed by no message (see
        bot/delivery/handover_files.py). Only at the bot's own start: a command run beside it
        could meet a bundle written a moment before its message."""
        if self.handover is None:
            return
        uploading = [name for name, adapter in self.adapters.items() if adapter.uploads_files]
        await self.handover.sweep(self.db, uploading)

    async def settle(self) -> None:
        """Until every message sent so far is marked sent in the database."""
        await self._marks.flush()

    async def _drain_platform(self, platform: str, adapter: Adapter) -> int:
        held: set[str] = set()
        try:
            return await self._drain_chats(platform, adapter, held)
        finally:
            if held and self.chat_locks is not None:
                # Another instance may take these chats once they are let go: by then the
                # rows sent here must read as sent.
                await self._marks.flush()
                await self.chat_locks.release(platform, held)

    async def _drain_chats(self, platform: str, adapter: Adapter, held: set[str]) -> int:
        marks = self._marks
        sent = 0
        limiter = self._limiters[platform]
        # Chats that take nothing more in this pass (budget spent, or a send failed):
        # reads pass over them, so a backlog in one never holds back the others.
        spent = limiter.spent(self.clock.now())
        if spent:
            self._recheck_after(min(spent.values()))
        blocked = set(spent)
        # The newest row when the pass began: rows queued since come with a wake() (or a
        # drain() call) of their own, which starts another pass. A pass that chased them
        # would, under steady traffic, keep every caller waiting behind it.
        horizon: int | None = None
        while True:
            now = self.clock.now()
            waits_until = self._platform_waits_until.get(platform)
            if waits_until is not None and waits_until > now:
                self._recheck_after((waits_until - now).total_seconds())
                return sent
            # Notices this pass queued itself (dead letters) are this pass's to send.
            look_further = self._queued_here
            self._queued_here = False
            # Rows whose marks are still on the way look pending: read enough to find a
            # batch of others.
            # Taken before the read: a mark committed while it runs leaves the set, yet
            # the read may still have found its row pending (PostgreSQL runs the two at
            # once; SQLite one after the other).
            unmarked = set(marks.unmarked)
            limit = DUE_BATCH + len(unmarked)
            async with self.db.autocommit() as conn:
                up_to = None if look_further else horizon
                found = await outbox.due(conn, platform, now, limit, up_to=up_to, skip=blocked)
            horizon = found.horizon
            rows = [row for row in found.rows if row.id not in unmarked]
            if not rows:
                return sent
            if await self._take_chats(platform, rows, held, blocked):
                continue  # read again: what was read before the lock may be stale
            by_chat: dict[str, list[OutboxRow]] = {}
            for row in rows:
                by_chat.setdefault(row.chat_id, []).append(row)
            # Chats side by side, each chat's rows in order: one slow call waits for
            # itself only, instead of every chat waiting for each call in turn.
            halted = asyncio.Event()
            sends = (
                self._send_chat(adapter, platform, chat_rows, blocked, halted)
                for chat_rows in by_chat.values()
            )
            sent += sum(await asyncio.gather(*sends))
            if halted.is_set():
                return sent
            if len(found.rows) < limit and not self._queued_here:
                return sent  # everything due up to the horizon was handled

    async def _send_chat(
        self,
        adapter: Adapter,
        platform: str,
        rows: Sequence[OutboxRow],
        blocked: set[str],
        halted: asyncio.Event,
    ) -> int:
        """One chat's rows of a pass, in order, until one cannot go; ``halted`` once the
        platform asks the whole adapter to wait. Returns how many were sent."""
        limiter = self._limiters[platform]
        sent = 0
        for row in rows:
            if self._platform_waits(platform):
                # Another chat's call was told to wait (429): so is every chat.
                halted.set()
            if halted.is_set() or row.chat_id in blocked:
                return sent
            if self.chat_locks is not None and not self.chat_locks.holds(platform, row.chat_id):
                blocked.add(row.chat_id)  # lost with the coordination session
                return sent
            group = row.payload.get("kind", "private") != ChatKind.PRIVATE
            wait = limiter.reserve(row.chat_id, group=group, now=self.clock.now())
            if wait > 0:
                blocked.add(row.chat_id)
                self._recheck_after(wait)
                return sent
            result = await self._deliver(adapter, row)
            if result is _Result.PLATFORM_WAITS:
                halted.set()
                return sent
            if result is not _Result.SENT:
                blocked.add(row.chat_id)
                return sent
            sent += 1
        return sent

    def _platform_waits(self, platform: str) -> bool:
        until = self._platform_waits_until.get(platform)
        return until is not None and until > self.clock.now()

    async def _take_chats(
        self, platform: str, rows: Sequence[OutboxRow], held: set[str], blocked: set[str]
    ) -> bool:
        """With several instances, one sender per chat at a time: take the chats of
        ``rows`` not held yet, pass over those another instance holds. True when any was
        taken."""
        if self.chat_locks is None:
            return False
        fresh = {row.chat_id for row in rows} - held - blocked
        if not fresh:
            return False
        taken = await self.chat_locks.acquire(platform, fresh)
        held.update(taken)
        if fresh - taken:
            blocked.update(fresh - taken)
            self._recheck_after(LOCKED_CHAT_RECHECK_SECONDS)
        return bool(taken)

    async def _deliver(self, adapter: Adapter, row: OutboxRow) -> _Result:
        edit_of = await self._sent_id(row, "edit_of_row")
        reply_to = await self._sent_id(row, "reply_to_row")
        started = time.monotonic()
        try:
            message_id = await adapter.send(to_outbound(row, edit_of, reply_to))
        except DeliveryError as exc:
            return await self._refused(row, exc)
        except Exception as exc:  # an adapter bug must not stop delivery to everyone else
            log.exception("adapter %s failed on outbox row %s", row.platform, row.id)
            await self._failed(row, type(exc).__name__, permanent=False)
            return _Result.FAILED
        took = time.monotonic() - started
        self._marks.add(row, message_id, self.clock.now(), took, uploaded=adapter.uploads_files)
        return _Result.SENT

    async def _sent_id(self, row: OutboxRow, field: str) -> str:
        """The platform id of the message ``row`` replaces or answers (``field``); ""
        sends it as a new message (the original never went out: nothing to edit or
        answer)."""
        original = row.payload.get(field)
        if original is None:
            return ""
        if int(original) in self._marks.sent:  # sent, its mark not written yet
            return self._marks.sent[int(original)]
        async with self.db.autocommit() as conn:
            return await outbox.platform_message_id(conn, int(original))

    async def _refused(self, row: OutboxRow, exc: DeliveryError) -> _Result:
        if exc.retry_after is None or exc.permanent:
            await self._failed(row, str(exc), permanent=exc.permanent)
            return _Result.FAILED
        # The platform set the pace: wait exactly as asked, and not as a failed attempt.
        until = self.clock.now() + timedelta(seconds=exc.retry_after)
        self._platform_waits_until[row.platform] = until
        self._recheck_after(exc.retry_after)
        log.warning("%s asks to wait %.1f s before sending again", row.platform, exc.retry_after)
        async with self.db.transaction() as conn:
            await outbox.postpone(conn, row.id, error=str(exc), until=until)
        return _Result.PLATFORM_WAITS

    async def _failed(self, row: OutboxRow, error: str, *, permanent: bool) -> None:
        now = self.clock.now()
        failures = row.attempts + 1
        if not permanent and failures < self.policy.attempts:
            retry_at = now + self.policy.backoff(failures)
            log.info("outbox row %s failed (%s), retry %d at %s", row.id, error, failures, retry_at)
            async with self.db.transaction() as conn:
                await outbox.mark_failed(conn, row.id, error=error, retry_at=retry_at, now=now)
            return
        async with self.db.transaction() as conn:
            await outbox.mark_failed(conn, row.id, error=error, retry_at=None, now=now)
            await self._report_dead(conn, row, error, now)

    async def _report_dead(
        self, conn: AsyncConnection, row: OutboxRow, error: str, now: datetime
    ) -> None:
        if row.payload.get("kind") == ChatKind.STAFF:
            # Reporting a failed staff alert to the staff channel would fail the same way.
            log.critical(
                "STAFF CHANNEL UNREACHABLE: alert %s to %s:%s is a dead letter (%s); "
                "it is kept: run `haven outbox retry` once the channel works again",
                row.id,
                row.platform,
                row.chat_id,
                error,
            )
            return
        log.error("outbox row %s to %s is a dead letter: %s", row.id, row.platform, error)
        await outbox.enqueue_many(conn, self.notice.about(row, error), now)
        self._queued_here = True
        self.wake()
