"""A person's yes/no choices (quiet hours, daily progress notes), one row per platform
identity: set by updating the row, or creating it the first time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection


async def set_flag(
    conn: AsyncConnection,
    table: Table,
    column: str,
    platform: str,
    user_id: str,
    *,
    on: bool,
    now: datetime,
) -> None:
    """Set ``table.column`` for one person; ``table`` is keyed by (platform, user_id)."""
    who = (table.c.platform == platform, table.c.user_id == user_id)
    values = {column: on, "updated_at": now}
    result = await conn.execute(update(table).where(*who).values(**values))
    if not result.rowcount:
        await conn.execute(insert(table).values(platform=platform, user_id=user_id, **values))
