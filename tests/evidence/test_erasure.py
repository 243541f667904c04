"""Erasure leaves its mark in the log: a tombstone leaf for the case, then the custody
event that says who erased it and why, both appended in the erasure's own transaction.

The log is what an auditor or a court trusts; an erasure that left no leaf would make a
case vanish without trace from the record that every bundle's proofs lead to.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.events import ForwardOrigin, OriginKind
from bot.evidence import erasure
from bot.evidence.store import OperatorError, Store
from bot.ops.operator import audit_store, open_store
from bot.runtime import Haven
from storage import escalations, ledger, notes, reminders, signal_checks, talks, web_chats
from storage import outbox as outbox_store
from storage.leaves import LeafKind, utc_stamp
from storage.schema import case_keys, cases, holds, outbox, staff_notes
from storage.schema import escalations as escalations_table
from storage.schema import evidence_items as items
from storage.schema import signal_checks as signal_checks_table
from storage.schema import talks as talks_table
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import LEAKED, attachment, forward, send_file


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    """Cases 1 and 2 of two victims, each with a forward and a photo in the log."""
    config: Config = make_config(tmp_path / "data")
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        for user in ("v1", "v2"):
            victim = Victim(haven, adapter, user)
            await triage(victim)
            await forward(victim, LEAKED)
            await send_file(victim, attachment(b"\x89PNG" + user.encode() * 300, name="a.png"))
    finally:
        await haven.close()
    async with open_store(config, clock) as opened:
        yield opened


async def log_of(store: Store) -> list[ledger.StoredLeaf]:
    async with store.db.transaction() as conn:
        return await ledger.leaves_in(conn, 0, await ledger.tree_size(conn))


async def test_erasure_appends_a_tombstone_then_the_erase_event(store: Store) -> None:
    before = await log_of(store)
    await erasure.erase(store, 1, actor="operator:alice", reason="the victim asked")
    after = await log_of(store)

    assert after[: len(before)] == before, "the log only grows"
    tombstone, event = after[len(before) :]
    assert tombstone.kind is LeafKind.TOMBSTONE
    assert json.loads(tombstone.data) == {
        "at": utc_stamp(store.clock.now()),
        "case": 1,
        "type": "tombstone",
        "v": 1,
    }
    assert event.kind is LeafKind.CUSTODY
    fields = json.loads(event.data)
    assert (fields["action"], fields["actor"], fields["case"], fields["reason"]) == (
        "erase",
        "operator:alice",
        1,
        "the victim asked",
    )
    assert await audit_store(store) == [], "the store still audits clean"


async def test_each_erased_case_gets_its_own_tombstone(store: Store) -> None:
    start = len(await log_of(store))
    await erasure.erase(store, 2, actor="operator", reason="r")
    await erasure.erase(store, 1, actor="operator", reason="r")
    added = (await log_of(store))[start:]
    tombstones = [leaf for leaf in added if leaf.kind is LeafKind.TOMBSTONE]
    assert [json.loads(leaf.data)["case"] for leaf in tombstones] == [2, 1]
    assert len(added) == 4


async def test_a_refused_erasure_leaves_the_log_as_it_was(store: Store) -> None:
    await erasure.hold(store, 1, actor="operator", reason="court order")
    before = await log_of(store)
    with pytest.raises(OperatorError, match="legal hold"):
        await erasure.erase(store, 1, actor="operator", reason="r")
    with pytest.raises(OperatorError, match="no case 9"):
        await erasure.erase(store, 9, actor="operator", reason="r")
    assert await log_of(store) == before
    await erasure.erase(store, 2, actor="operator", reason="r")
    after_first = await log_of(store)
    with pytest.raises(OperatorError) as again:
        await erasure.erase(store, 2, actor="operator", reason="r")
    assert str(again.value) == "case 2 was erased already"
    assert await log_of(store) == after_first


async def test_a_hold_and_its_release_say_who_when_and_why_in_the_log(
    store: Store, clock: ManualClock
) -> None:
    start = len(await log_of(store))
    await erasure.hold(store, 2, actor="slack:UADMIN", reason="court order 17")
    clock.advance(timedelta(hours=3))
    await erasure.release(store, 2, actor="slack:UADMIN2")
    await erasure.hold(store, 2, actor="slack:UADMIN", reason="appeal")
    await erasure.release(store, 2, actor="slack:UADMIN2", reason="appeal dropped")
    events = [json.loads(leaf.data) for leaf in (await log_of(store))[start:]]
    assert [(e["action"], e["actor"], e["case"], e["reason"]) for e in events] == [
        ("hold", "slack:UADMIN", 2, "court order 17"),
        ("release", "slack:UADMIN2", 2, ""),
        ("hold", "slack:UADMIN", 2, "appeal"),
        ("release", "slack:UADMIN2", 2, "appeal dropped"),
    ]
    async with store.db.transaction() as conn:
        rows = (await conn.execute(select(holds).order_by(holds.c.id))).mappings().all()
    assert [(r["held_by"], r["released_by"]) for r in rows] == [
        ("slack:UADMIN", "slack:UADMIN2"),
        ("slack:UADMIN", "slack:UADMIN2"),
    ]
    assert rows[0]["released_at"] - rows[0]["held_at"] == timedelta(hours=3)
    with pytest.raises(OperatorError) as refused:
        await erasure.release(store, 2, actor="slack:UADMIN2")
    assert str(refused.value) == "case 2 is not on hold"


async def test_a_hold_without_a_reason_or_on_a_held_case_is_refused_saying_why(
    store: Store,
) -> None:
    before = await log_of(store)
    with pytest.raises(OperatorError) as no_reason:
        await erasure.hold(store, 1, actor="operator", reason="  ")
    assert str(no_reason.value) == "a hold needs a reason (--reason)"
    assert await log_of(store) == before
    await erasure.hold(store, 1, actor="operator", reason="court order")
    with pytest.raises(OperatorError) as again:
        await erasure.hold(store, 1, actor="operator", reason="another order")
    assert str(again.value) == "case 1 is already on hold"
    assert len(await log_of(store)) == len(before) + 1


WHERE_FROM = ForwardOrigin(
    kind=OriginKind.USER,
    sender_name="Zhang San",
    sender_id="4242",
    chat_title="Company group",
    original_message_id="77",
    author_signature="Z.S.",
    permalink="https://t.me/c/1/77",
)
IN_CLEAR = (
    "file_name",
    *(f"origin_{n}" for n in ("sender", "sender_id", "chat")),
    *(f"origin_{n}" for n in ("message_id", "signature", "link")),
)


async def test_erased_item_rows_keep_nothing_in_clear(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(tmp_path / "data")
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        victim = Victim(haven, adapter, "v1")
        await triage(victim)
        await forward(victim, LEAKED, WHERE_FROM)
        await send_file(victim, attachment(b"\x89PNG" + bytes(5000), name="beach.png"))
    finally:
        await haven.close()

    async def rows(store: Store) -> list[dict[str, object]]:
        async with store.db.transaction() as conn:
            found = await conn.execute(select(items).where(items.c.case_id == 1))
            return [dict(row) for row in found.mappings()]

    async with open_store(config, clock) as store:
        before = await rows(store)
        # Everything below is really there to be erased: the forward's origin, the file.
        assert all(any(row[column] for row in before) for column in IN_CLEAR)
        assert any(row["sealed"] is not None or row["blob"] is not None for row in before)
        await erasure.erase(store, 1, actor="operator", reason="the victim asked")
        after = await rows(store)
    assert len(after) == len(before) == 2
    for row in after:
        assert {column: row[column] for column in IN_CLEAR} == dict.fromkeys(IN_CLEAR, "")
        assert row["sealed"] is None and row["blob"] is None
        assert row["content_sha256"] == row["content_commitment"]  # the plain hash is gone


async def test_erasure_forgets_the_cases_notes_and_closes_it_and_no_other(
    store: Store, clock: ManualClock
) -> None:
    leaf = (await log_of(store))[0].index  # a staff note's custody event, in reality
    async with store.db.transaction() as conn:
        for case_id in (1, 2):
            await conn.execute(
                insert(staff_notes).values(
                    case_id=case_id,
                    author="op",
                    text=f"staff on {case_id}",
                    at=clock.now(),
                    leaf_index=leaf,
                )
            )
            await notes.add(
                conn, bytes(32), case_id=case_id, text=f"victim on {case_id}",
                written_at=clock.now(), happened_at=None, basis=notes.WRITTEN, items=(),
            )  # fmt: skip
        await conn.execute(update(cases).values(pending_multi='["evidence"]'))
    clock.advance(timedelta(minutes=5))
    await erasure.erase(store, 1, actor="operator", reason="the victim asked")
    async with store.db.transaction() as conn:
        staff = dict((await conn.execute(select(staff_notes.c.case_id, staff_notes.c.text))).all())
        victim = [
            n.case_id for n in [*await notes.for_case(conn, 1), *await notes.for_case(conn, 2)]
        ]
        case = {r.id: r for r in (await conn.execute(select(cases))).all()}
    assert staff == {1: "", 2: "staff on 2"}
    assert victim == [2]
    assert (case[1].status, case[1].closed_at, case[1].pending_multi, case[1].updated_at) == (
        "closed",
        clock.now(),
        "[]",
        clock.now(),
    )
    assert (case[2].closed_at, case[2].pending_multi) == (None, '["evidence"]')


async def test_a_case_closed_earlier_keeps_the_day_it_was_closed(
    store: Store, clock: ManualClock
) -> None:
    closed = clock.now()
    async with store.db.transaction() as conn:
        await conn.execute(
            update(cases).where(cases.c.id == 1).values(status="closed", closed_at=closed)
        )
    clock.advance(timedelta(days=30))
    await erasure.erase(store, 1, actor="operator", reason="retention")
    async with store.db.transaction() as conn:
        row = (await conn.execute(select(cases).where(cases.c.id == 1))).one()
    assert (row.status, row.closed_at, row.updated_at) == ("closed", closed, clock.now())


async def test_erasure_drops_and_blanks_the_cases_messages_and_no_other_cases(
    store: Store,
) -> None:
    first = select(outbox.c.id).where(outbox.c.case_id == 1).order_by(outbox.c.id).limit(2)
    async with store.db.transaction() as conn:
        dead, waiting = (await conn.execute(first)).scalars().all()
        for row_id, state in ((dead, "dead"), (waiting, "pending")):
            await conn.execute(
                update(outbox).where(outbox.c.id == row_id).values(state=state, last_error="503")
            )
        # a message sent after a failed try keeps that try's error until the erasure
        sent_once_failed = update(outbox).where(outbox.c.case_id == 1, outbox.c.state == "sent")
        await conn.execute(sent_once_failed.values(last_error="429 too many requests"))
        await conn.execute(
            update(outbox).where(outbox.c.case_id == 2).values(last_error="a timeout")
        )
        other_first = select(func.min(outbox.c.id)).where(outbox.c.case_id == 2).scalar_subquery()
        await conn.execute(update(outbox).where(outbox.c.id == other_first).values(state="pending"))
        before = {r.id: r.state for r in await conn.execute(select(outbox))}
        waiting_reminders = len(await reminders.pending_of_case(conn, 1))
        other_before = (await conn.execute(select(outbox).where(outbox.c.case_id == 2))).all()
    erased = await erasure.erase(store, 1, actor="operator", reason="the victim asked")
    async with store.db.transaction() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.case_id == 1))).all()
        other_after = (await conn.execute(select(outbox).where(outbox.c.case_id == 2))).all()
    assert other_after == other_before, "another case's messages are untouched"
    assert len(rows) > 2 and erased.messages_dropped == 2
    assert waiting_reminders > 0 and erased.reminders_cancelled == waiting_reminders
    async with store.db.transaction() as conn:
        assert await reminders.pending_of_case(conn, 1) == []
    assert {r.id: r.state for r in rows} == {
        r.id: "dropped" if r.id in (dead, waiting) else before[r.id] for r in rows
    }
    assert {before[r.id] for r in rows if r.id not in (dead, waiting)} == {"sent"}
    assert all((r.payload, r.last_error) == ("{}", "") for r in rows)


async def test_a_message_sent_while_its_case_was_erased_keeps_its_platform_id(
    store: Store, clock: ManualClock
) -> None:
    """The sender marks what it sent a little later, in a batch; an erasure in between
    dropped the row. It went out all the same: its platform id must still route a staff
    reply to the case and let a later edit replace it, its text stays gone."""
    in_flight = select(func.max(outbox.c.id)).where(outbox.c.case_id == 1).scalar_subquery()
    async with store.db.transaction() as conn:
        await conn.execute(update(outbox).where(outbox.c.id == in_flight).values(state="pending"))
        row_id = (await conn.execute(select(in_flight))).scalar_one()
        platform, chat = (
            await conn.execute(
                select(outbox.c.platform, outbox.c.chat_id).where(outbox.c.id == row_id)
            )
        ).one()
    await erasure.erase(store, 1, actor="operator", reason="the victim asked")
    async with store.db.transaction() as conn:
        await outbox_store.mark_sent_many(conn, [(row_id, "m-777", clock.now())])
    async with store.db.transaction() as conn:
        row = (await conn.execute(select(outbox).where(outbox.c.id == row_id))).one()
        routed = await outbox_store.case_of_sent(conn, platform, chat, "m-777")
        assert await outbox_store.platform_message_id(conn, row_id) == "m-777"
    assert (row.state, row.payload) == ("sent", "{}")
    assert routed == 1


async def test_erasure_ends_what_would_still_reach_out_about_the_case_and_no_other(
    store: Store, clock: ManualClock
) -> None:
    """An open escalation, conversation and crisis check of an erased case would alert
    staff about a case nobody can read; its web chat would show the conversation again."""
    opened = clock.now()
    async with store.db.transaction() as conn:
        for case_id in (1, 2):
            chat = f"web-{case_id}"
            await conn.execute(
                update(cases).where(cases.c.id == case_id).values(platform="web", chat_id=chat)
            )
            await web_chats.create(conn, chat, bytes([case_id]) * 32, opened)
            await web_chats.post(conn, chat, f"said in case {case_id}", opened)
            await escalations.create(conn, case_id, ["high"], opened + timedelta(hours=1), opened)
            await talks.start(conn, case_id, staff="slack:USTAFF", display_name="Ann", now=opened)
            await signal_checks.add(
                conn, case_id, "self_harm", alert_at=opened + timedelta(hours=1), now=opened
            )
    clock.advance(timedelta(minutes=5))
    await erasure.erase(store, 1, actor="operator:alice", reason="the victim asked")

    async with store.db.transaction() as conn:
        escalation = {r.case_id: r for r in await conn.execute(select(escalations_table))}
        talk = {r.case_id: r for r in await conn.execute(select(talks_table))}
        check = {r.case_id: r for r in await conn.execute(select(signal_checks_table))}
        mailbox = {chat: await web_chats.since(conn, chat, 0, 10) for chat in ("web-1", "web-2")}
    ended = escalation[1]
    assert (ended.state, ended.closed_by, ended.closed_at, ended.next_at) == (
        escalations.RESOLVED,
        "operator:alice",
        clock.now(),
        None,
    )
    assert (talk[1].state, talk[1].ended_by, talk[1].ended_at) == (
        talks.ENDED,
        "operator:alice",
        clock.now(),
    )
    assert (check[1].state, check[1].updated_at) == (signal_checks.ANSWERED, clock.now())
    assert mailbox["web-1"] == []
    assert (escalation[2].state, escalation[2].next_at) == (
        escalations.OPEN,
        opened + timedelta(hours=1),
    )
    assert (talk[2].state, check[2].state) == (talks.OPEN, signal_checks.WAITING)
    assert [body for _, body in mailbox["web-2"]] == ["said in case 2"]


async def test_a_case_without_evidence_is_erased_by_its_own_id(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Case 1 never sent evidence, so it has no key row yet; case 2 has one."""
    config = make_config(tmp_path / "data")
    adapter = MemoryAdapter()
    haven = await Haven.open(config, {adapter.platform: adapter}, clock)
    try:
        await triage(Victim(haven, adapter, "v1"))
        second = Victim(haven, adapter, "v2")
        await triage(second)
        await forward(second, LEAKED)
    finally:
        await haven.close()
    async with open_store(config, clock) as store:
        erased = await erasure.erase(store, 1, actor="operator", reason="the victim asked")
        async with store.db.transaction() as conn:
            assert await erasure.erased(conn, 1)
            assert not await erasure.erased(conn, 2)
            keys = {r.case_id: r for r in await conn.execute(select(case_keys))}
        assert sorted(keys) == [1, 2]
        assert (erased.items, erased.messages_dropped) == (0, 0), "nothing was waiting to go"
        assert (keys[1].wrapped_key, keys[1].erased_at) == (None, clock.now())
        assert keys[2].wrapped_key is not None and keys[2].erased_at is None
        with pytest.raises(OperatorError, match="erased already"):
            await erasure.erase(store, 1, actor="operator", reason="again")
