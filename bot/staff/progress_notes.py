"""Daily progress notes to victims who asked for them (`[briefing] victim_progress_notes`).

A victim turns them on or off with `/updates` (`/updates on`, `/updates off`); the choice
is the person's, across their cases. With the daily briefing, each open case of someone
who opted in gets a short note in its own language: the step it is at and how much of
that step's checklist is done. Nothing is sent to anyone who did not ask.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.playbook import Texts
from bot.content.prompts import Reply
from bot.conversation.desk_answer import DeskAnswer
from bot.delivery.outbox import payload_of
from bot.events import ChatKind, ChatRef, Inbound, InboundKind
from storage import outbox, progress, reminders
from storage.outbox import NewMessage
from storage.progress import Progress

COMMAND = "updates"
STEPS = 3


class ProgressNotes:
    def __init__(self, texts: Texts, default_locale: str, *, enabled: bool) -> None:
        self.texts = texts
        self.default_locale = default_locale
        self.enabled = enabled

    async def route(
        self, conn: AsyncConnection, inbound: Inbound, now: datetime
    ) -> DeskAnswer | Inbound:
        """Answer `/updates`; pass everything else on."""
        if inbound.kind is not InboundKind.COMMAND or inbound.command.lower() != COMMAND:
            return inbound
        who = inbound.identity
        locale = await reminders.person_locale(conn, who.platform, who.user_id)
        locale = locale or self.default_locale
        if not self.enabled:
            return DeskAnswer(None, (Reply(self.texts.get(locale, "progress.not_offered")),))
        wanted = inbound.args.strip().lower()
        current = await progress.opted_in(conn, who.platform, who.user_id)
        on = {"on": True, "off": False}.get(wanted, not current)
        await progress.set_opt_in(conn, who.platform, who.user_id, on=on, now=now)
        key = "progress.on" if on else "progress.off"
        return DeskAnswer(None, (Reply(self.texts.get(locale, key)),))

    async def send(self, conn: AsyncConnection, now: datetime) -> int:
        """Queue today's notes, in the caller's transaction; return how many."""
        if not self.enabled:
            return 0
        queued = 0
        async for page in progress.of_opted_in(conn):
            messages = [self._note(p) for p in page]
            await outbox.enqueue_many(conn, messages, now)
            queued += len(messages)
        return queued

    def _note(self, case: Progress) -> NewMessage:
        if case.step == 0:
            text = self.texts.get(case.locale, "progress.note_triage", case_id=case.case_id)
        else:
            text = self.texts.get(
                case.locale,
                "progress.note",
                case_id=case.case_id,
                step=case.step,
                steps=STEPS,
                done=case.done,
                total=case.total,
            )
        chat = ChatRef(case.platform, case.chat_id, ChatKind.PRIVATE)
        return NewMessage(chat.platform, chat.chat_id, payload_of(chat, Reply(text)), case.case_id)
