"""The victim's `/erase`: asked, confirmed with a button, then carried out.

`/erase` only asks. The confirming press is carried out before the turn's transaction,
like an export (bot/evidence/export_desk.py), because erasing runs its own transaction: the data
key is destroyed, a tombstone goes into the log, reminders and unsent messages of the
case are dropped and the case is closed (bot/evidence/erasure.py). The answer then goes to the
chat on no case at all, since the case it belonged to is gone.
"""

from __future__ import annotations

import logging

from bot.content.prompts import Prompts, Reply
from bot.conversation.desk_answer import DeskAnswer
from bot.conversation.flow import Turn
from bot.events import Button, Inbound, InboundKind
from bot.evidence.erasure import erase
from bot.evidence.store import OperatorError, Store
from storage import cases
from storage.cases import CaseRecord

log = logging.getLogger(__name__)

VICTIM = "victim"
REASON = "the victim asked to erase their case (/erase)"
CONFIRM, KEEP = "erase:yes:", "erase:no:"


class EraseDesk:
    def __init__(self, store: Store, prompts: Prompts) -> None:
        self.store = store
        self.prompts = prompts

    def ask(self, turn: Turn) -> None:
        """The answer to `/erase`: what erasing means, and two buttons."""
        case = turn.case
        buttons = (
            (Button(self.prompts.t(case, "erase.btn_confirm"), f"{CONFIRM}{case.id}"),),
            (Button(self.prompts.t(case, "erase.btn_keep"), f"{KEEP}{case.id}"),),
        )
        turn.say(self.prompts.t(case, "erase.confirm", case_no=case.id), buttons)

    async def answer(self, inbound: Inbound) -> DeskAnswer | None:
        """Carry out a press of one of `ask`'s buttons; None for any other input."""
        data = inbound.button_data
        if inbound.kind is not InboundKind.BUTTON or not data.startswith((CONFIRM, KEEP)):
            return None
        case = await self._open_case(inbound)
        if case is None or data.rpartition(":")[2] != str(case.id):
            return None  # a button of a case that is over: the flow says it is stale
        if data.startswith(KEEP):
            return DeskAnswer(case.id, (Reply(self.prompts.t(case, "erase.kept")),))
        try:
            done = await erase(self.store, case.id, actor=VICTIM, reason=REASON)
        except OperatorError as exc:
            log.warning("case %s: the victim's erasure was refused: %s", case.id, exc)
            return DeskAnswer(case.id, (Reply(self.prompts.t(case, "erase.held")),))
        log.info("case %s: erased at the victim's request", case.id)
        done_text = self.prompts.t(case, "erase.done", case_no=case.id, count=done.items)
        return DeskAnswer(None, (Reply(done_text),))

    async def _open_case(self, inbound: Inbound) -> CaseRecord | None:
        identity = inbound.identity
        async with self.store.db.transaction() as conn:
            return await cases.find_current(conn, identity.platform, identity.user_id)
