"""The victim's `/export`: their case's evidence bundle, sent to them as a file.

The bundle is built before the turn's transaction, like evidence downloads (see
bot/dispatch.py): decrypting and zipping a case takes time and must not hold the write
lock. The turn then queues the reply that carries the file. The export itself is a
custody event (bot/evidence/export.py), so the log shows that the victim took a copy, and when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.content.prompts import Prompts
from bot.conversation.flow import Turn
from bot.events import Inbound, OutboundFile
from bot.evidence.erasure import erased
from bot.evidence.export import EvidenceMismatch, Exported, default_path, export_case
from bot.evidence.store import OperatorError, Store
from bot.evidence.vetting import ALERT_REASON
from storage import cases, evidence_items

log = logging.getLogger(__name__)

VICTIM = "victim"
MISMATCH_REASON = ALERT_REASON
REASON = "the victim asked for their evidence bundle (/export)"
ZIP = "application/zip"


@dataclass(frozen=True)
class Prepared:
    """What `/export` found: a written bundle, or the content key saying why there is none."""

    exported: Exported | None = None
    problem: str = ""
    alert: str = ""
    """A reason to alert the staff with (the records contradict the log)."""


class ExportDesk:
    def __init__(self, store: Store, prompts: Prompts) -> None:
        self.store = store
        self.prompts = prompts

    async def prepare(self, inbound: Inbound) -> Prepared:
        identity = inbound.identity
        async with self.store.db.transaction() as conn:
            case = await cases.find_current(conn, identity.platform, identity.user_id)
            if case is None:
                return Prepared(problem="export.empty")
            if await erased(conn, case.id):
                return Prepared(problem="evidence.case_erased")
            if (await evidence_items.usage(conn, case.id)).last_item_no == 0:
                return Prepared(problem="export.empty")
        try:
            path = default_path(self.store, case.id)
            exported = await export_case(self.store, case.id, path, actor=VICTIM, reason=REASON)
        except EvidenceMismatch as exc:
            log.error("case %s: the victim's export was refused: %s", case.id, exc)
            return Prepared(problem="export.mismatch", alert=MISMATCH_REASON)
        except OperatorError as exc:
            log.error("case %s: the victim's export failed: %s", case.id, exc)
            return Prepared(problem="export.failed")
        log.info("case %s: exported %d item(s) for the victim", case.id, exported.items)
        return Prepared(exported)

    def reply(self, turn: Turn, prepared: Prepared) -> None:
        """Say what `prepare` found, in the turn that answers the command."""
        done = prepared.exported
        if done is None:
            turn.say(self.prompts.t(turn.case, prepared.problem))
            if prepared.alert:
                turn.alert(prepared.alert)
            return
        name = f"haven-case-{turn.case.id}-evidence.zip"
        text = self.prompts.t(turn.case, "export.ready", count=done.items)
        turn.say(text, file=OutboundFile(str(done.path), name, ZIP))
