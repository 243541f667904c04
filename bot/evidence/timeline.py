"""The incident timeline: what happened, in the order it happened, and what each line rests on.

Entries come from four places, each placed at the best time known for it, and each
saying how sure that time is (its *basis*):

- evidence items: at the forwarded message's original date (``original``), or, where
  the platform gave none, at the time Haven received it (``received``);
- the victim's notes (`/memo`): at the time they gave (``stated_time``, or
  ``stated_day`` for a day alone), else at the time they wrote it (``written``);
- checklist steps marked done (complaint sent, police report made): when they were
  marked done in Haven (``recorded``);
- reminders answered (done, or not relevant) and deletions of forwarded messages in the
  chat: when they happened in Haven (``recorded``).

Every entry names what it rests on: an evidence item, a note (and the items it refers
to), a checklist item or a reminder. Gaps of a day or more between entries are shown,
not smoothed over. The timeline reads metadata only; evidence texts appear in it only
where a caller hands them in (an export, which decrypts everything anyway).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.playbook import Texts
from bot.evidence.intake import DELETED_ON_PLATFORM
from storage import custody, evidence_search, notes
from storage.cases import CaseRecord
from storage.evidence_search import DatedItem, Scope
from storage.leaves import utc_stamp
from storage.schema import checklist, reminders
from storage.vault import VaultError

FORMAT = "haven-timeline"
VERSION = 1
GAP = timedelta(days=1)
CHAT_LIMIT = 30
SNIPPET_CHARS = 80

ORIGINAL, RECEIVED, RECORDED = "original", "received", "recorded"
_ORDER = {"evidence": 0, "deletion": 1, "note": 2, "step": 3, "reminder": 4}
_MINUTE = "%Y-%m-%d %H:%M"
_DAY = "%Y-%m-%d"


@dataclass(frozen=True)
class Entry:
    at: datetime
    basis: str
    type: str
    text: str
    rests_on: Mapping[str, object] = field(default_factory=dict)
    order: int = 0
    excerpt: str = ""
    """The start of an evidence text, where the caller decrypted it (an export)."""

    @property
    def full_text(self) -> str:
        return f"{self.text}: “{self.excerpt}”" if self.excerpt else self.text

    def sort_key(self) -> tuple[datetime, int, int]:
        return (self.at, _ORDER[self.type], self.order)


@dataclass(frozen=True)
class Timeline:
    case_id: int
    locale: str
    timezone: str
    entries: tuple[Entry, ...]
    total: int
    """Entries in the whole timeline; more than ``entries`` holds when it was cut."""

    def with_excerpts(self, texts: Mapping[int, str]) -> Timeline:
        """The same timeline with the start of each evidence text given in ``texts``."""
        entries = tuple(
            replace(entry, excerpt=_short(texts[item]))
            if entry.type == "evidence"
            and isinstance(item := entry.rests_on.get("item"), int)
            and item in texts
            else entry
            for entry in self.entries
        )
        return replace(self, entries=entries)

    def without_items(self, numbers: Collection[int]) -> Timeline:
        """The same timeline without the evidence entries of the items ``numbers``."""
        if not numbers:
            return self
        entries = tuple(
            entry
            for entry in self.entries
            if entry.type != "evidence" or entry.rests_on.get("item") not in numbers
        )
        return replace(self, entries=entries, total=self.total - (len(self.entries) - len(entries)))

    def gaps(self) -> list[tuple[datetime, datetime]]:
        pairs = zip(self.entries, self.entries[1:], strict=False)
        return [(a.at, b.at) for a, b in pairs if b.at - a.at >= GAP]


class Timelines:
    def __init__(self, texts: Texts, tz: ZoneInfo) -> None:
        self.texts = texts
        self.tz = tz

    async def build(
        self,
        conn: AsyncConnection,
        case: CaseRecord,
        data_key: bytes | None,
        *,
        latest: int | None = None,
    ) -> Timeline:
        """The case's timeline, or its ``latest`` last entries (the count is of all);
        notes are shown only with the data key."""
        entries: list[Entry] = []
        scope = Scope(case.id)
        async for item in evidence_search.dated(conn, scope, latest=latest):
            entries.append(self._item(case, item))
        items = await evidence_search.count(conn, scope) if latest else len(entries)
        for note in await notes.for_case(conn, case.id):
            entries.append(self._note(case, note, data_key))
        entries += await self._steps_and_reminders(conn, case)
        for row in await custody.for_case(conn, case.id):
            event = row.event
            if event.action == DELETED_ON_PLATFORM and event.item_no is not None:
                text = self._t(case, "timeline.deleted", item_no=event.item_no)
                entries.append(Entry(event.at, RECORDED, "deletion", text, {"item": event.item_no}))
        entries.sort(key=Entry.sort_key)
        total = len(entries) + items - sum(1 for e in entries if e.type == "evidence")
        kept = entries[-latest:] if latest else entries
        return Timeline(case.id, case.locale, self.tz.key, tuple(kept), total)

    # ---- sources ----------------------------------------------------------------------

    def _item(self, case: CaseRecord, item: DatedItem) -> Entry:
        kind = self._t(case, f"evidence.kind.{item.kind}")
        if item.edit_of:
            line = self._t(case, "timeline.edit", item_no=item.item_no, edit_of=item.edit_of)
        elif item.sender:
            line = self._t(
                case, "timeline.item_from", item_no=item.item_no, kind=kind, sender=item.sender
            )
        else:
            line = self._t(case, "timeline.item", item_no=item.item_no, kind=kind)
        if item.chat:
            line += self._t(case, "timeline.in_chat", chat=item.chat)
        if item.kind != "text" and item.file_name:
            line += f" ({item.file_name})"
        basis = ORIGINAL if item.original_date else RECEIVED
        return Entry(item.event_time, basis, "evidence", line, {"item": item.item_no}, item.item_no)

    def _note(self, case: CaseRecord, note: notes.NoteRecord, data_key: bytes | None) -> Entry:
        try:
            words = note.text(data_key) if data_key else None
        except VaultError:
            words = None
        shown = words if words is not None else self._t(case, "timeline.note_unreadable")
        line = self._t(case, "timeline.note", note_no=note.note_no, text=_short(shown, 300))
        rests_on: dict[str, object] = {"note": note.note_no}
        if note.items:
            rests_on["items"] = list(note.items)
            refs = self._t(case, "meta.list_separator").join(f"#{n}" for n in note.items)
            line += self._t(case, "timeline.note_items", items=refs)
        return Entry(note.event_time, note.basis, "note", line, rests_on, note.note_no)

    async def _steps_and_reminders(self, conn: AsyncConnection, case: CaseRecord) -> list[Entry]:
        entries: list[Entry] = []
        done_at: set[tuple[str, datetime]] = set()
        steps = select(checklist.c.item_id, checklist.c.updated_at).where(
            checklist.c.case_id == case.id, checklist.c.state == "done"
        )
        for item_id, at in await conn.execute(steps):
            done_at.add((item_id, at))
            line = self._t(case, "timeline.step_done", title=self._title(case, item_id))
            entries.append(Entry(at, RECORDED, "step", line, {"checklist_item": item_id}))
        answered = (
            select(reminders.c.id, reminders.c.item_id, reminders.c.state, reminders.c.updated_at)
            .where(reminders.c.case_id == case.id, reminders.c.state.in_(("done", "dismissed")))
            .order_by(reminders.c.id)
        )
        for reminder_id, item_id, state, at in await conn.execute(answered):
            if (item_id, at) in done_at:
                continue  # ticking the item off closed its reminder in the same moment
            key = "timeline.reminder_done" if state == "done" else "timeline.reminder_dismissed"
            line = self._t(case, key, title=self._title(case, item_id))
            rests_on = {"reminder": reminder_id, "checklist_item": item_id}
            entries.append(Entry(at, RECORDED, "reminder", line, rests_on, reminder_id))
        return entries

    def _title(self, case: CaseRecord, item_id: str) -> str:
        key = f"item.{item_id}.title"
        return self._t(case, key) if self.texts.has(case.locale, key) else item_id

    def _t(self, case: CaseRecord, key: str, **fields: object) -> str:
        return self.texts.get(case.locale, key, **fields)

    # ---- rendering --------------------------------------------------------------------

    def when(self, entry: Entry) -> str:
        local = entry.at.astimezone(self.tz)
        return local.strftime(_DAY if entry.basis == notes.STATED_DAY else _MINUTE)

    def line(self, case: CaseRecord, entry: Entry, *, short: bool = False) -> str:
        """One entry; ``short`` marks its time with a word explained once below (the
        chat), else with the whole explanation (the bundle's document)."""
        mark = ""
        if _marked(entry):
            kind = "mark" if short else "basis"
            mark = " " + self._t(case, f"timeline.{kind}_{entry.basis}")
        return f"{self.when(entry)}{mark} · {entry.full_text}"

    def lines(self, case: CaseRecord, timeline: Timeline, *, short: bool = False) -> list[str]:
        """Every entry, with a line for each gap of a day or more."""
        lines: list[str] = []
        previous: Entry | None = None
        for entry in timeline.entries:
            if previous is not None and entry.at - previous.at >= GAP:
                lines.append(
                    self._t(case, "timeline.gap", duration=self._days(case, entry, previous))
                )
            lines.append(self.line(case, entry, short=short))
            previous = entry
        return lines

    def chat_text(self, case: CaseRecord, timeline: Timeline) -> str:
        """`/timeline` in the chat: the latest entries, and how to get all of them."""
        if not timeline.entries:
            return self._t(case, "timeline.empty")
        shown = replace(timeline, entries=timeline.entries[-CHAT_LIMIT:])
        parts = [self._t(case, "timeline.header", count=timeline.total, timezone=timeline.timezone)]
        hidden = timeline.total - len(shown.entries)
        if hidden > 0:
            parts.append(self._t(case, "timeline.more", count=hidden))
        parts += self.lines(case, shown, short=True)
        used = dict.fromkeys(entry.basis for entry in shown.entries if _marked(entry))
        keys = [
            self._t(
                case,
                "timeline.mark_means",
                mark=self._t(case, f"timeline.mark_{basis}"),
                meaning=self._t(case, f"timeline.basis_{basis}").strip("()（）"),
            )
            for basis in used
        ]
        return "\n".join(parts + (["", *keys] if keys else []))

    def document(self, case: CaseRecord, timeline: Timeline) -> str:
        """The whole timeline as a readable text, for the export bundle."""
        header = self._t(case, "timeline.header", count=timeline.total, timezone=timeline.timezone)
        body = self.lines(case, timeline) or [self._t(case, "timeline.empty")]
        return "\n".join([header, "", *body, "", self._t(case, "timeline.legend")]) + "\n"

    def to_json(self, timeline: Timeline) -> bytes:
        value: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "case_id": timeline.case_id,
            "locale": timeline.locale,
            "timezone": timeline.timezone,
            "entries": [
                {
                    "at": utc_stamp(entry.at),
                    "local": self.when(entry),
                    "time_basis": entry.basis,
                    "type": entry.type,
                    "text": entry.full_text,
                    "rests_on": dict(entry.rests_on),
                }
                for entry in timeline.entries
            ],
            "gaps": [{"from": utc_stamp(a), "to": utc_stamp(b)} for a, b in timeline.gaps()],
        }
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()

    def _days(self, case: CaseRecord, entry: Entry, previous: Entry) -> str:
        span = entry.at - previous.at
        if span < 2 * GAP:
            return self._t(case, "ui.duration_h", n=int(span / timedelta(hours=1)))
        return self._t(case, "ui.duration_d", n=span.days)


def _short(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def referenced_items(entries: Sequence[Entry]) -> set[int]:
    """Every evidence item number the entries rest on."""
    found: set[int] = set()
    for entry in entries:
        item = entry.rests_on.get("item")
        if isinstance(item, int):
            found.add(item)
        items = entry.rests_on.get("items")
        if isinstance(items, list):
            found.update(n for n in items if isinstance(n, int))
    return found


def _marked(entry: Entry) -> bool:
    """A time that is not the original one, or the one the person gave, says so."""
    return entry.basis != ORIGINAL and entry.basis != notes.STATED_TIME
