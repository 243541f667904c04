"""Evidence an instance journaled and then died with is handled by another, while it runs.

An instance acknowledges an evidence event to its platform once the event is in the
intake journal (bot/conversation/intake_journal.py); if it dies before handling it, the
platform will not send the event again. At start an instance replays what gone
instances left, but a host that dies for good never starts again, so every running
instance looks every ``seconds`` for journal rows whose owner is gone, takes them over
(one instance wins each owner's rows) and hands them to the core.
"""

from __future__ import annotations

import asyncio
import logging

from bot.adapter import InboundHandler
from bot.conversation.intake_journal import FileFetch, IntakeJournal

log = logging.getLogger(__name__)

LOOK_SECONDS = 5.0


class JournalWatch:
    def __init__(
        self,
        journal: IntakeJournal,
        platform: str,
        fetch: FileFetch,
        handler: InboundHandler,
        *,
        seconds: float = LOOK_SECONDS,
    ) -> None:
        self.journal = journal
        self.platform = platform
        self.fetch = fetch
        self.handler = handler
        self.seconds = seconds

    async def run(self) -> None:
        """Look, hand over what was taken over, wait; until cancelled."""
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await self.journal.resume(self.platform, self.fetch, self.handler)
            except Exception:
                log.exception("%s: looking for a gone instance's events failed", self.platform)
