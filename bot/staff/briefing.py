"""The daily briefing: the state of the case load, posted to every staff channel.

It is a duty of the reminder scheduler (bot/reminders/scheduler.py): the next briefing is a row due
at the configured local time; posting claims the row and queues the messages in one
transaction. A briefing missed while Haven was down is posted once at the next start,
marked late. With it go the daily progress notes to victims who asked for them
(bot/staff/progress_notes.py), when the deployment offers them. Each briefing signs a fresh
tree head of the evidence log and shows it, so the staff channel holds an outside record
that the log's history was not rewritten. The head is a C2SP checkpoint, timestamped by
the configured authorities like an export's (bot/evidence/stamping.py); the briefing says
how many heads still wait for a timestamp.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.prompts import Reply
from bot.delivery.outbox import payload_of
from bot.events import ChatRef
from bot.evidence.stamping import Stamper
from bot.staff.progress_notes import ProgressNotes
from bot.staff.texts import StaffTexts
from storage import briefings, ledger, timestamps
from storage.database import Database
from storage.outbox import NewMessage, enqueue_many

log = logging.getLogger(__name__)


def next_occurrence(now: datetime, at: time, zone: ZoneInfo) -> datetime:
    """The first moment after `now` when the local clock in `zone` shows `at`."""
    local = now.astimezone(zone)
    for days in range(3):
        day = local.date() + timedelta(days=days)
        candidate = datetime.combine(day, at, tzinfo=zone)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("a time of day always comes round within two days")


class Briefer:
    def __init__(
        self,
        db: Database,
        words: StaffTexts,
        channels: tuple[ChatRef, ...],
        log_key: Ed25519PrivateKey,
        at: time,
        progress: ProgressNotes,
        *,
        enabled: bool = True,
        origin: str = "",
        stamper: Stamper | None = None,
        retention_days: int = 180,
    ) -> None:
        self.db = db
        self.words = words
        self.channels = channels
        self.log_key = log_key
        self.at = at
        self.progress = progress
        self.enabled = enabled
        self.origin = origin
        self.stamper = stamper
        self.retention_days = retention_days

    async def fire_due(self, now: datetime) -> int:
        """Post the briefing if it is due (once, late if it was missed); schedule the next."""
        if not self.enabled:
            return 0
        async with self.db.transaction() as conn:
            due_at = await briefings.claim_due(conn, now)
            queued = 0
            if due_at is not None:
                late = now - due_at > timedelta(minutes=1)
                text = await self.compose(conn, now, late_for=due_at if late else None)
                messages = [
                    NewMessage(c.platform, c.chat_id, payload_of(c, Reply(text)), None)
                    for c in self.channels
                ]
                await enqueue_many(conn, messages, now)
                queued = len(messages) + await self.progress.send(conn, now)
                log.info("daily briefing posted%s", " (late)" if late else "")
            await briefings.schedule(conn, next_occurrence(now, self.at, self.words.zone), now)
        return queued

    async def next_due(self, conn: AsyncConnection, after: datetime) -> datetime | None:
        return await briefings.next_due(conn, after) if self.enabled else None

    async def compose(
        self,
        conn: AsyncConnection,
        now: datetime,
        *,
        late_for: datetime | None = None,
        on_request: bool = False,
    ) -> str:
        words = self.words
        figures = await briefings.figures(conn, now)
        head = await ledger.sign_head(conn, self.log_key, now, origin=self.origin)
        if self.stamper is not None:
            await self.stamper.queue(conn, head, now)
        if on_request:
            title = words.t("briefing.title_now", at=words.at(now))
        elif late_for is not None:
            title = words.t("briefing.title_late", at=words.at(now), due=words.at(late_for))
        else:
            title = words.t("briefing.title", at=words.at(now))
        lines = [title, words.t("briefing.new_cases", n=figures.new_cases)]
        if figures.open_counts:
            total = sum(c.count for c in figures.open_counts)
            lines.append(words.t("briefing.open_header", n=total))
            lines += [
                words.t(
                    "briefing.open_line",
                    severity=words.severity(c.severity),
                    step=words.step(c.step),
                    n=c.count,
                )
                for c in figures.open_counts
            ]
        else:
            lines.append(words.t("briefing.open_none"))
        lines.append(words.t("briefing.overdue", n=figures.overdue))
        unacknowledged = words.t("briefing.unacknowledged", n=figures.unacknowledged)
        if figures.unacknowledged_cases:
            listed = words.t("meta.list_separator").join(
                f"#{case_id}" for case_id in figures.unacknowledged_cases
            )
            unacknowledged += f" ({listed})"
        lines.append(unacknowledged)
        lines.append(words.t("briefing.evidence_added", n=figures.evidence_added))
        lines.append(words.t("briefing.reminders_sent", n=figures.reminders_sent))
        lines.append(
            words.t("briefing.retention", n=figures.erased_by_retention, days=self.retention_days)
        )
        if figures.dead_letters:
            lines.append(words.t("briefing.dead_letters", n=figures.dead_letters))
        lines.append(words.t("briefing.tree_head", size=head.head.size, root=head.head.root.hex()))
        if self.stamper is not None and self.stamper.enabled:
            waiting = await timestamps.waiting_count(conn)
            lines.append(words.t("briefing.timestamps_waiting", n=waiting))
        return "\n".join(lines)
