"""The victim's `/report`: their case report as a PDF, delivered like `/export`.

Written before the turn's transaction (rendering takes a moment and must not hold the
write lock), into DATA_DIR/exports beside the bundles, so the same handover rules apply
(bot/delivery/handover_files.py): deleted once Telegram or Slack has the file, kept while
a message still needs it, shown by path in the console. Making it is a custody event.
A case whose records contradict the log gets no report: the victim is told kindly and
the staff alerted, as for `/export`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.content.prompts import Prompts
from bot.conversation.flow import Turn
from bot.events import Inbound, OutboundFile
from bot.evidence.case_report import PDF, Reported, default_report_path, write_report
from bot.evidence.erasure import erased
from bot.evidence.export import EvidenceMismatch
from bot.evidence.store import OperatorError, Store
from bot.evidence.vetting import ALERT_REASON
from storage import cases

log = logging.getLogger(__name__)

VICTIM = "victim"
REASON = "the victim asked for their case report (/report)"


@dataclass(frozen=True)
class PreparedReport:
    reported: Reported | None = None
    problem: str = ""
    alert: str = ""


class ReportDesk:
    def __init__(self, store: Store, prompts: Prompts) -> None:
        self.store = store
        self.prompts = prompts

    async def prepare(self, inbound: Inbound) -> PreparedReport:
        identity = inbound.identity
        async with self.store.db.transaction() as conn:
            case = await cases.find_current(conn, identity.platform, identity.user_id)
            if case is None:
                return PreparedReport(problem="report.empty")
            if await erased(conn, case.id):
                return PreparedReport(problem="evidence.case_erased")
        path = default_report_path(self.store, case.id)
        try:
            reported = await write_report(self.store, case.id, path, actor=VICTIM, reason=REASON)
        except EvidenceMismatch as exc:
            log.error("case %s: the victim's report was refused: %s", case.id, exc)
            return PreparedReport(problem="export.mismatch", alert=ALERT_REASON)
        except OperatorError as exc:
            log.error("case %s: the victim's report failed: %s", case.id, exc)
            return PreparedReport(problem="report.failed")
        log.info("case %s: a case report was made for the victim", case.id)
        return PreparedReport(reported)

    def reply(self, turn: Turn, prepared: PreparedReport) -> None:
        done = prepared.reported
        if done is None:
            turn.say(self.prompts.t(turn.case, prepared.problem))
            if prepared.alert:
                turn.alert(prepared.alert)
            return
        name = f"haven-case-{turn.case.id}-report.pdf"
        text = self.prompts.t(turn.case, "report.ready", count=done.items)
        turn.say(text, file=OutboundFile(str(done.path), name, PDF))
