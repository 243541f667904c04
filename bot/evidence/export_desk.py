"""The victim's `/export`: their case's evidence bundle, sent to them as a file
(bot/evidence/handover_desk.py says how). The export is a custody event
(bot/evidence/export.py), so the log shows that the victim took a copy, and when."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.evidence.export import default_path, export_case
from bot.evidence.handover_desk import VICTIM, HandoverDesk, Made
from storage import evidence_items

REASON = "the victim asked for their evidence bundle (/export)"


class ExportDesk(HandoverDesk):
    command = "export"
    file_name = "haven-case-{case_id}-evidence.zip"
    mime = "application/zip"

    async def _has_content(self, conn: AsyncConnection, case_id: int) -> bool:
        return (await evidence_items.usage(conn, case_id)).last_item_no > 0

    async def _make(self, case_id: int) -> Made:
        path = default_path(self.store, case_id)
        exported = await export_case(self.store, case_id, path, actor=VICTIM, reason=REASON)
        return Made(exported.path, exported.items)
