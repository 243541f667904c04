"""Victims' opt-in to daily progress notes, and the progress of their open cases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.person_flags import set_flag
from storage.schema import cases, checklist, progress_optins

PAGE = 1000


@dataclass(frozen=True)
class Progress:
    case_id: int
    platform: str
    chat_id: str
    locale: str
    step: int
    done: int
    total: int


async def opted_in(conn: AsyncConnection, platform: str, user_id: str) -> bool:
    query = select(progress_optins.c.opted_in).where(
        progress_optins.c.platform == platform, progress_optins.c.user_id == user_id
    )
    return bool((await conn.execute(query)).scalar())


async def set_opt_in(
    conn: AsyncConnection, platform: str, user_id: str, *, on: bool, now: datetime
) -> None:
    await set_flag(conn, progress_optins, "opted_in", platform, user_id, on=on, now=now)


async def of_opted_in(conn: AsyncConnection) -> AsyncIterator[list[Progress]]:
    """Open cases of victims who opted in, a page at a time, with their current step's
    checklist counted in SQL."""
    on_step = and_(checklist.c.case_id == cases.c.id, checklist.c.step == cases.c.step)
    joined = cases.join(
        progress_optins,
        and_(
            progress_optins.c.platform == cases.c.platform,
            progress_optins.c.user_id == cases.c.user_id,
        ),
    ).outerjoin(checklist, on_step)
    after = 0
    while True:
        rows = await conn.execute(
            select(
                cases.c.id,
                cases.c.platform,
                cases.c.chat_id,
                cases.c.locale,
                cases.c.step,
                func.count(case((checklist.c.state == "done", 1))),
                func.count(checklist.c.item_id),
            )
            .select_from(joined)
            .where(progress_optins.c.opted_in, cases.c.status == "open", cases.c.id > after)
            .group_by(cases.c.id)
            .order_by(cases.c.id)
            .limit(PAGE)
        )
        page = [Progress(*row) for row in rows]
        if not page:
            return
        yield page
        after = page[-1].case_id
