"""The victim's `/memo` and `/timeline`: notes in their own words, and the incident in order.

``/memo saw it in the company group at 15:30`` keeps a note. A date and a time written
anywhere in it place it in the timeline (see `stated_time.py`); without one, the note
stands at the time it was written, and the timeline says so. A date that could be read
two ways, or could not be read, is asked about and the note is not kept until it is
clear: a wrong date would go into the bundle meant for the police. ``#3`` in a note links it to
evidence item 3. A note is sealed with the case's data key, like the evidence.
(Not ``/note``: in staff channels ``/note N TEXT`` is a staff note on case N.)
"""

from __future__ import annotations

import logging
import re
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.prompts import Prompts
from bot.conversation.flow import Turn
from bot.conversation.inputs import clean_text
from bot.evidence.timeline import CHAT_LIMIT, Timelines
from bot.evidence.vetting import ALERT_REASON, Contradicted
from bot.search.stated_time import read_stated_time
from storage import case_keys, evidence_search, notes
from storage.case_keys import CaseKeyErased, CaseKeyError
from storage.keys import KeyRing

log = logging.getLogger(__name__)

MAX_NOTE_CHARS = 2000
_ITEM = re.compile(r"[#＃](\d{1,6})(?!\d)")
_EXAMPLE = "%Y-%m-%d %H:%M"


class MemoDesk:
    def __init__(self, prompts: Prompts, ring: KeyRing, tz: ZoneInfo, timelines: Timelines):
        self.prompts = prompts
        self.ring = ring
        self.tz = tz
        self.timelines = timelines

    async def memo(self, conn: AsyncConnection, turn: Turn, args: str) -> None:
        case = turn.case
        text = clean_text(args).strip()
        example = turn.now.astimezone(self.tz).strftime(_EXAMPLE)
        if not text:
            turn.say(self.prompts.t(case, "memo.usage", example=example))
            return
        if len(text) > MAX_NOTE_CHARS:
            turn.say(self.prompts.t(case, "memo.too_long", limit=MAX_NOTE_CHARS))
            return
        stated = read_stated_time(text, turn.now, self.tz)
        if stated.unclear:
            turn.say(self.prompts.t(case, "memo.unclear", words=stated.unclear, example=example))
            return
        try:
            key = await case_keys.data_key_for_new_item(conn, self.ring, case.id, turn.now)
        except CaseKeyErased:
            turn.say(self.prompts.t(case, "evidence.case_erased"))
            return
        basis = stated.basis
        wanted = {int(n) for n in _ITEM.findall(text)}
        items = tuple(await evidence_search.numbers(conn, case.id, wanted))
        note = await notes.add(
            conn,
            key,
            case_id=case.id,
            text=text,
            written_at=turn.now,
            happened_at=stated.at,
            basis=basis,
            items=items,
        )
        log.info("case %s: note %s kept", case.id, note.note_no)
        when = note.event_time.astimezone(self.tz)
        if basis == notes.WRITTEN:
            reply = self.prompts.t(
                case,
                "memo.kept_written",
                note_no=note.note_no,
                when=when.strftime(_EXAMPLE),
                example=example,
            )
        elif stated.day_assumed:
            reply = self.prompts.t(
                case,
                "memo.kept_day_assumed",
                note_no=note.note_no,
                when=when.strftime(_EXAMPLE),
                example=example,
            )
        else:
            shown = when.strftime("%Y-%m-%d" if basis == notes.STATED_DAY else _EXAMPLE)
            reply = self.prompts.t(case, "memo.kept", note_no=note.note_no, when=shown)
        if items:
            refs = self.prompts.t(case, "meta.list_separator").join(f"#{n}" for n in items)
            reply += "\n" + self.prompts.t(case, "memo.linked", items=refs)
        turn.say(reply)

    async def timeline(self, conn: AsyncConnection, turn: Turn, contradicted: Contradicted) -> None:
        """The latest entries. An item whose row the log contradicts (someone changed the
        database: bot/evidence/vetting.py) is not placed by its row's time nor named by
        its row's sender: it is named below the timeline, and the staff are alerted."""
        case = turn.case
        try:
            key: bytes | None = await case_keys.data_key(conn, self.ring, case.id)
        except CaseKeyError:
            key = None  # no evidence or note yet, or erased: notes cannot be read
        built = await self.timelines.build(conn, case, key, latest=CHAT_LIMIT)
        trusted = built.without_items(contradicted)
        lines = [self.timelines.chat_text(case, trusted)]
        lines += [
            self.prompts.t(case, "evidence.list_contradicted", item_no=number)
            for number in sorted(contradicted)
        ]
        turn.say("\n".join(lines))
        if contradicted:
            turn.alert(ALERT_REASON)
