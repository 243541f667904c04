"""Cases, their answers and checklist state: rows in, plain records out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.json_rows import json_rows, parsed
from storage.prepared import Prepared
from storage.schema import answers, case_keys, cases, checklist, talks


@dataclass(frozen=True)
class ChecklistEntry:
    item_id: str
    step: int
    position: int
    state: str


@dataclass(frozen=True)
class CaseRecord:
    id: int
    platform: str
    user_id: str
    chat_id: str
    status: str
    phase: str
    locale: str
    severity: str
    created_at: datetime
    updated_at: datetime
    reasons: tuple[str, ...] = ()
    alerted_reasons: tuple[str, ...] = ()
    question_id: str = ""
    changing: str = ""
    pending_multi: tuple[str, ...] = ()
    step: int = 0
    prompt_seq: int = 0
    language_offered: str = ""
    asking: str = ""  # the signal asked about directly, awaiting an answer
    # When the person last answered no to each signal's direct question.
    said_no: Mapping[str, datetime] = field(default_factory=dict)
    closed_at: datetime | None = None
    # A staff member held the conversation (storage/talks.py) when the case was read.
    talking: bool = False
    answers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    checklist: tuple[ChecklistEntry, ...] = ()


# Built once: a victim's every message loads and saves a case. Parameters that name a row
# are called *_key, as an UPDATE's own parameters are named after its columns.
_VICTIMS_OPEN_CASE = (
    cases.c.platform == bindparam("platform"),
    cases.c.user_id == bindparam("user_id"),
    # Inline, not a parameter: SQLite can then see that one_open_case_per_victim (a
    # partial index on the same condition) applies when it prepares the query, instead
    # of preparing it again on every run (measured 30 against 7 microseconds).
    cases.c.status != literal_column("'closed'"),
)
# A case with its answers and checklist, in one statement (see storage/json_rows.py), and
# whether a person holds its conversation (the partial index one_open_talk_per_case).
_WHOLE_CASE = (
    cases,
    exists()
    .where(talks.c.case_id == cases.c.id, talks.c.state == literal_column("'open'"))
    .label("talking"),
    select(json_rows(answers.c.question_id, answers.c.value))
    .where(answers.c.case_id == cases.c.id)
    .scalar_subquery()
    .label("answer_rows"),
    select(json_rows(*(checklist.c[name] for name in ("item_id", "step", "position", "state"))))
    .where(checklist.c.case_id == cases.c.id)
    .scalar_subquery()
    .label("checklist_rows"),
)
_FIND_OPEN = Prepared(select(*_WHOLE_CASE).where(*_VICTIMS_OPEN_CASE))
_OPEN_ID = Prepared(select(cases.c.id).where(*_VICTIMS_OPEN_CASE))
_GET = Prepared(select(*_WHOLE_CASE).where(cases.c.id == bindparam("case_key")))
_INSERT_CASE = Prepared(insert(cases))
_UPDATE_CASE = Prepared(update(cases).where(cases.c.id == bindparam("case_key")))
_DELETE_ANSWERS = delete(answers).where(
    answers.c.case_id == bindparam("case_key"),
    answers.c.question_id.in_(bindparam("question_keys", expanding=True)),
)
_UPDATE_ANSWER = Prepared(
    update(answers).where(
        answers.c.case_id == bindparam("case_key"),
        answers.c.question_id == bindparam("question_key"),
    )
)
_INSERT_ANSWER = Prepared(insert(answers))
_DELETE_CHECKLIST = delete(checklist).where(
    checklist.c.case_id == bindparam("case_key"),
    checklist.c.item_id.in_(bindparam("item_keys", expanding=True)),
)
_UPDATE_CHECKLIST = Prepared(
    update(checklist).where(
        checklist.c.case_id == bindparam("case_key"),
        checklist.c.item_id == bindparam("item_key"),
    )
)
_INSERT_CHECKLIST = Prepared(insert(checklist))

_SCALARS = (
    "status",
    "phase",
    "locale",
    "severity",
    "question_id",
    "changing",
    "step",
    "language_offered",
    "asking",
)
_LISTS = ("reasons", "alerted_reasons", "pending_multi")


async def find_open(conn: AsyncConnection, platform: str, user_id: str) -> CaseRecord | None:
    found = await _FIND_OPEN.mappings(conn, {"platform": platform, "user_id": user_id})
    return _load(found[0]) if found else None


# The person's latest closed case that was not erased: what they come back to.
_LATEST_CLOSED = Prepared(
    select(*_WHOLE_CASE)
    .outerjoin(case_keys, case_keys.c.case_id == cases.c.id)
    .where(
        cases.c.platform == bindparam("platform"),
        cases.c.user_id == bindparam("user_id"),
        cases.c.status == literal_column("'closed'"),
        case_keys.c.erased_at.is_(None),
    )
    .order_by(cases.c.id.desc())
    .limit(1)
)
_LAST_LOCALE = Prepared(
    select(cases.c.locale)
    .where(cases.c.platform == bindparam("platform"), cases.c.user_id == bindparam("user_id"))
    .order_by(cases.c.id.desc())
    .limit(1)
)


async def find_current(conn: AsyncConnection, platform: str, user_id: str) -> CaseRecord | None:
    """The victim's open case, or else their latest closed one that was not erased: a
    person who comes back after closing comes back to their evidence."""
    found = await find_open(conn, platform, user_id)
    if found is not None:
        return found
    rows = await _LATEST_CLOSED.mappings(conn, {"platform": platform, "user_id": user_id})
    return _load(rows[0]) if rows else None


async def last_locale(conn: AsyncConnection, platform: str, user_id: str) -> str | None:
    """The language of the person's latest case, even an erased one."""
    rows = await _LAST_LOCALE.rows(conn, {"platform": platform, "user_id": user_id})
    return str(rows[0][0]) if rows else None


async def open_case_id(conn: AsyncConnection, platform: str, user_id: str) -> int | None:
    """The id of the victim's open case, without loading it."""
    found = await _OPEN_ID.rows(conn, {"platform": platform, "user_id": user_id})
    return found[0][0] if found else None


async def get(conn: AsyncConnection, case_id: int) -> CaseRecord | None:
    found = await _GET.mappings(conn, {"case_key": case_id})
    return _load(found[0]) if found else None


async def create(
    conn: AsyncConnection, *, platform: str, user_id: str, chat_id: str, locale: str, now: datetime
) -> CaseRecord:
    values: dict[str, Any] = {
        "platform": platform,
        "user_id": user_id,
        "chat_id": chat_id,
        "status": "open",
        "phase": "language",
        "locale": locale,
        "severity": "normal",
        "created_at": now,
        "updated_at": now,
    }
    case_id = await _INSERT_CASE.insert(conn, values)
    return CaseRecord(id=case_id, **values)


async def save(conn: AsyncConnection, before: CaseRecord, after: CaseRecord, now: datetime) -> None:
    """Write what changed between two versions of a case, and nothing else."""
    await _save_case_row(conn, before, after, now)
    await _save_answers(conn, before, after, now)
    await _save_checklist(conn, before, after, now)


async def _save_case_row(
    conn: AsyncConnection, before: CaseRecord, after: CaseRecord, now: datetime
) -> None:
    values: dict[str, Any] = {
        name: getattr(after, name)
        for name in _SCALARS
        if getattr(after, name) != getattr(before, name)
    }
    values.update(
        {
            name: json.dumps(list(getattr(after, name)), ensure_ascii=False)
            for name in _LISTS
            if getattr(after, name) != getattr(before, name)
        }
    )
    if after.said_no != before.said_no:
        values["said_no"] = json.dumps({k: v.isoformat() for k, v in after.said_no.items()})
    if after.prompt_seq != before.prompt_seq:
        values["prompt_seq"] = after.prompt_seq
    if after.closed_at != before.closed_at:
        values["closed_at"] = after.closed_at
    values["updated_at"] = now
    values["case_key"] = after.id
    await _UPDATE_CASE.run(conn, values)


async def _save_answers(
    conn: AsyncConnection, before: CaseRecord, after: CaseRecord, now: datetime
) -> None:
    removed = set(before.answers) - set(after.answers)
    if removed:
        await conn.execute(
            _DELETE_ANSWERS, {"case_key": after.id, "question_keys": sorted(removed)}
        )
    changed: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for question_id, value in after.answers.items():
        if before.answers.get(question_id) == value:
            continue
        encoded = json.dumps(list(value), ensure_ascii=False)
        if question_id in before.answers:
            changed.append(
                {
                    "case_key": after.id,
                    "question_key": question_id,
                    "value": encoded,
                    "answered_at": now,
                }
            )
        else:
            added.append(
                {
                    "case_id": after.id,
                    "question_id": question_id,
                    "value": encoded,
                    "answered_at": now,
                }
            )
    await _UPDATE_ANSWER.run_many(conn, changed)
    await _INSERT_ANSWER.run_many(conn, added)


async def _save_checklist(
    conn: AsyncConnection, before: CaseRecord, after: CaseRecord, now: datetime
) -> None:
    old = {entry.item_id: entry for entry in before.checklist}
    new = {entry.item_id: entry for entry in after.checklist}
    gone = set(old) - set(new)
    if gone:
        await conn.execute(_DELETE_CHECKLIST, {"case_key": after.id, "item_keys": sorted(gone)})
    changed: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for item_id, entry in new.items():
        if old.get(item_id) == entry:
            continue
        values = {"step": entry.step, "position": entry.position, "state": entry.state}
        if item_id in old:
            changed.append({"case_key": after.id, "item_key": item_id, "updated_at": now, **values})
        else:
            added.append({"case_id": after.id, "item_id": item_id, "updated_at": now, **values})
    await _UPDATE_CHECKLIST.run_many(conn, changed)
    await _INSERT_CHECKLIST.run_many(conn, added)


def _load(row: Mapping[str, Any]) -> CaseRecord:
    # Sorted here: neither engine promises an aggregate's order without ORDER BY inside
    # it, which SQLite only has since 3.44.
    checklist_rows = sorted(parsed(row["checklist_rows"]), key=lambda r: (r[1], r[2]))
    return CaseRecord(
        id=row["id"],
        platform=row["platform"],
        user_id=row["user_id"],
        chat_id=row["chat_id"],
        status=row["status"],
        phase=row["phase"],
        locale=row["locale"],
        severity=row["severity"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        reasons=tuple(json.loads(row["reasons"])),
        alerted_reasons=tuple(json.loads(row["alerted_reasons"])),
        question_id=row["question_id"],
        changing=row["changing"],
        pending_multi=tuple(json.loads(row["pending_multi"])),
        step=row["step"],
        prompt_seq=row["prompt_seq"],
        language_offered=row["language_offered"],
        asking=row["asking"],
        said_no={k: datetime.fromisoformat(v) for k, v in json.loads(row["said_no"]).items()},
        closed_at=row["closed_at"],
        answers={qid: tuple(json.loads(value)) for qid, value in parsed(row["answer_rows"])},
        checklist=tuple(ChecklistEntry(*r) for r in checklist_rows),
        talking=bool(row["talking"]),
    )
