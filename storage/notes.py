"""The victim's notes: sealed with the case's data key, numbered per case."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.schema import case_notes
from storage.vault import open_sealed, seal

STATED_TIME = "stated_time"  # the victim gave a date and a time (or a time: today's)
STATED_DAY = "stated_day"  # the victim gave a day only
WRITTEN = "written"  # no time given: the note stands where it was written


@dataclass(frozen=True)
class NoteRecord:
    case_id: int
    note_no: int
    written_at: datetime
    happened_at: datetime | None
    basis: str
    items: tuple[int, ...]
    sealed: bytes = field(repr=False)

    @property
    def event_time(self) -> datetime:
        return self.happened_at or self.written_at

    def text(self, data_key: bytes) -> str:
        """The note's words; VaultError when the key or the ciphertext is wrong."""
        return open_sealed(data_key, self.sealed, note_id(self.case_id, self.note_no)).decode()


def note_id(case_id: int, note_no: int) -> str:
    """The note's name in its encryption's associated data: never an item's ``12-3``."""
    return f"{case_id}-note-{note_no}"


async def add(
    conn: AsyncConnection,
    data_key: bytes,
    *,
    case_id: int,
    text: str,
    written_at: datetime,
    happened_at: datetime | None,
    basis: str,
    items: tuple[int, ...],
) -> NoteRecord:
    last = await conn.execute(
        select(func.coalesce(func.max(case_notes.c.note_no), 0)).where(
            case_notes.c.case_id == case_id
        )
    )
    note_no = int(last.scalar_one()) + 1
    record = NoteRecord(
        case_id=case_id,
        note_no=note_no,
        written_at=written_at,
        happened_at=happened_at,
        basis=basis,
        items=items,
        sealed=seal(data_key, text.encode(), note_id(case_id, note_no)),
    )
    await conn.execute(
        insert(case_notes).values(
            case_id=case_id,
            note_no=note_no,
            written_at=written_at,
            happened_at=happened_at,
            basis=basis,
            items=json.dumps(list(items)),
            sealed=record.sealed,
        )
    )
    return record


async def for_case(conn: AsyncConnection, case_id: int) -> list[NoteRecord]:
    query = select(case_notes).where(case_notes.c.case_id == case_id).order_by(case_notes.c.note_no)
    return [
        NoteRecord(
            case_id=row["case_id"],
            note_no=row["note_no"],
            written_at=row["written_at"],
            happened_at=row["happened_at"],
            basis=row["basis"],
            items=tuple(json.loads(row["items"])),
            sealed=bytes(row["sealed"]),
        )
        for row in (await conn.execute(query)).mappings()
    ]
