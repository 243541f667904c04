"""The victim's `/report`: their case report as a PDF, delivered like `/export`
(bot/evidence/handover_desk.py says how)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.evidence.case_report import PDF, default_report_path, write_report
from bot.evidence.handover_desk import VICTIM, HandoverDesk, Made

REASON = "the victim asked for their case report (/report)"


class ReportDesk(HandoverDesk):
    command = "report"
    file_name = "haven-case-{case_id}-report.pdf"
    mime = PDF

    async def _has_content(self, conn: AsyncConnection, case_id: int) -> bool:
        return True  # a case with no evidence yet still has answers, steps and deadlines

    async def _make(self, case_id: int) -> Made:
        path = default_report_path(self.store, case_id)
        reported = await write_report(self.store, case_id, path, actor=VICTIM, reason=REASON)
        return Made(reported.path, reported.items)
