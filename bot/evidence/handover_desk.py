"""What the victim's `/export` and `/report` share: a file made for them before the
turn, then handed over in it.

The file is made before the turn's transaction, like evidence downloads (see
bot/dispatch.py): decrypting, zipping or rendering a case takes time and must not hold
the write lock. It goes into DATA_DIR/exports, so the same handover rules apply to both
(bot/delivery/handover_files.py): deleted once Telegram or Slack has the file, kept while
a message still needs it, shown by path in the console. Making it is a custody event. A
case whose records contradict the log gets no file: the victim is told kindly and the
staff alerted.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.prompts import Prompts
from bot.conversation.flow import Turn
from bot.events import Inbound, OutboundFile
from bot.evidence.erasure import erased
from bot.evidence.export import EvidenceMismatch
from bot.evidence.store import OperatorError, Store
from bot.evidence.vetting import ALERT_REASON
from storage import cases

log = logging.getLogger(__name__)

VICTIM = "victim"


@dataclass(frozen=True)
class Made:
    path: Path
    items: int


@dataclass(frozen=True)
class Prepared:
    """What the command found: a file made, or the content key saying why there is none."""

    made: Made | None = None
    problem: str = ""
    alert: str = ""
    """A reason to alert the staff with (the records contradict the log)."""


class HandoverDesk(ABC):
    command: ClassVar[str]
    """The command's name, which also prefixes its content keys (`export.ready`, ...)."""
    file_name: ClassVar[str]
    """The name the victim sees, with ``{case_id}``."""
    mime: ClassVar[str]

    def __init__(self, store: Store, prompts: Prompts) -> None:
        self.store = store
        self.prompts = prompts

    @abstractmethod
    async def _has_content(self, conn: AsyncConnection, case_id: int) -> bool: ...

    @abstractmethod
    async def _make(self, case_id: int) -> Made: ...

    async def prepare(self, inbound: Inbound) -> Prepared:
        identity = inbound.identity
        async with self.store.db.transaction() as conn:
            case = await cases.find_current(conn, identity.platform, identity.user_id)
            if case is None:
                return Prepared(problem=f"{self.command}.empty")
            if await erased(conn, case.id):
                return Prepared(problem="evidence.case_erased")
            if not await self._has_content(conn, case.id):
                return Prepared(problem=f"{self.command}.empty")
        try:
            made = await self._make(case.id)
        except EvidenceMismatch as exc:
            log.error("case %s: the victim's /%s was refused: %s", case.id, self.command, exc)
            return Prepared(problem="export.mismatch", alert=ALERT_REASON)
        except OperatorError as exc:
            log.error("case %s: the victim's /%s failed: %s", case.id, self.command, exc)
            return Prepared(problem=f"{self.command}.failed")
        log.info("case %s: /%s made for the victim (%d item(s))", case.id, self.command, made.items)
        return Prepared(made)

    def reply(self, turn: Turn, prepared: Prepared) -> None:
        """Say what `prepare` found, in the turn that answers the command."""
        made = prepared.made
        if made is None:
            turn.say(self.prompts.t(turn.case, prepared.problem))
            if prepared.alert:
                turn.alert(prepared.alert)
            return
        name = self.file_name.format(case_id=turn.case.id)
        text = self.prompts.t(turn.case, f"{self.command}.ready", count=made.items)
        turn.say(text, file=OutboundFile(str(made.path), name, self.mime))
