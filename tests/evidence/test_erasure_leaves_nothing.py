"""Erasure leaves no plaintext behind (issue 17): not in the messages already sent (replies
quoting evidence, /search and /timeline answers, memo echoes), not in the permanent log
(a search is logged by its shape and a keyed hash, never its words), and — on SQLite —
not in a copy of the database's files taken right after "Your case has been erased",
with Haven still running."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.events import ForwardOrigin, OriginKind
from bot.evidence import erasure
from bot.runtime import Haven
from storage.schema import answers, case_keys, custody_events, ledger_leaves, outbox
from tests.conftest import Victim
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import forward
from tests.evidence.test_victim_copies import store_of
from tests.staff_rig import open_rig

WORD = "zebrafinch"
SENDER = "Quintus Marlowe"
MEMO = "saw it pinned by the wombatkeeper"
AMOUNT = "4471 doubloons"


async def leaky_case(victim: Victim) -> None:
    """A case whose answers, sender, evidence and sent replies all hold marked words."""
    await victim.command("start")
    await victim.press("lang:en")
    await victim.press("ok:")
    await victim.press("safety=no")
    await victim.press("extortion=yes")
    await victim.text(AMOUNT)
    await victim.press("minor=no")
    await victim.press("spread=private_chats")
    await victim.press("leaked=chats")
    await victim.press("md:leaked")
    await victim.press("source=hotel")
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name=SENDER)
    await forward(victim, f"the {WORD} photos are in the group", origin)
    await victim.command("search", WORD)
    await victim.command("timeline")
    await victim.command("memo", MEMO)


async def erase_by_the_victim(victim: Victim) -> None:
    await victim.command("erase")
    (done,) = await victim.press("yes:1")
    assert "can never be read again" in done.text


async def payloads(haven: Haven) -> list[str]:
    """Every outbox row's payload; the latest may still wait for its sent-mark."""
    async with haven.db.transaction() as conn:
        return list((await conn.execute(select(outbox.c.payload))).scalars())


async def sent_payloads(haven: Haven) -> list[str]:
    async with haven.db.transaction() as conn:
        query = select(outbox.c.payload).where(outbox.c.state == "sent")
        return list((await conn.execute(query)).scalars())


async def test_sent_messages_lose_their_text_on_erasure(victim: Victim) -> None:
    await leaky_case(victim)
    await victim.haven.sender.settle()
    sent = "\n".join(await sent_payloads(victim.haven))
    assert WORD in sent and SENDER in sent
    await erase_by_the_victim(victim)
    after = "\n".join(await payloads(victim.haven))
    for marked in (WORD, SENDER, "wombatkeeper"):
        assert marked not in after


async def test_the_operators_erase_blanks_sent_messages_too(victim: Victim) -> None:
    await leaky_case(victim)
    await erasure.erase(store_of(victim.haven), 1, actor="operator", reason="asked")
    async with victim.haven.db.transaction() as conn:
        query = select(outbox.c.payload).where(outbox.c.case_id == 1)
        assert set((await conn.execute(query)).scalars()) == {"{}"}


async def test_the_log_never_holds_what_was_searched_for(victim: Victim) -> None:
    await leaky_case(victim)
    await victim.command("search", f"from:{SENDER.split()[0]} {WORD}")
    await erase_by_the_victim(victim)
    async with victim.haven.db.transaction() as conn:
        reasons = list((await conn.execute(select(custody_events.c.reason))).scalars())
        leaves = list((await conn.execute(select(ledger_leaves.c.data))).scalars())
    searches = [reason for reason in reasons if "result(s)" in reason]
    assert len(searches) == 2
    logged = "\n".join(reasons) + "\n".join(bytes(leaf).decode() for leaf in leaves)
    for marked in (WORD, "Quintus", "Qu****", "wombatkeeper"):
        assert marked not in logged
    assert searches[0].startswith("1 word(s), query ")
    assert searches[1].startswith("1 word(s), a sender, query ")


async def test_the_same_search_gives_the_same_digest_and_another_one_another(
    victim: Victim,
) -> None:
    await leaky_case(victim)
    await victim.command("search", WORD)
    await victim.command("search", "another")
    async with victim.haven.db.transaction() as conn:
        query = select(custody_events.c.reason).where(custody_events.c.action == "search")
        reasons = list((await conn.execute(query)).scalars())
    digests = [reason.split("query ")[1].split(" ")[0] for reason in reasons]
    assert digests[0] == digests[1] != digests[2]


def files_of(haven: Haven) -> bytes:
    database = Path(str(haven.db.engine.url.database))
    copied = b""
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        if path.exists():
            copied += path.read_bytes()
    return copied


@pytest.mark.only_on("sqlite")
async def test_a_copy_of_the_database_right_after_erasure_holds_none_of_it(
    haven: tuple[Haven, MemoryAdapter],
) -> None:
    running, adapter = haven
    victim = Victim(running, adapter)
    await leaky_case(victim)
    async with running.db.transaction() as conn:
        wrapped = (await conn.execute(select(case_keys.c.wrapped_key))).scalar_one()
        answered = [str(v) for v in (await conn.execute(select(answers.c.value))).scalars()]
    assert any(AMOUNT in value for value in answered)
    marked = [WORD.encode(), SENDER.encode(), AMOUNT.encode(), bytes(wrapped)]
    copied = files_of(running)
    assert [mark in copied for mark in marked] == [True] * len(marked), "the test sees them"
    await erase_by_the_victim(victim)
    copied = files_of(running)  # Haven still running, as a thief's copy would be taken
    assert [mark in copied for mark in marked] == [False] * len(marked)


@pytest.mark.only_on("sqlite")
async def test_a_reader_holding_an_old_snapshot_delays_the_emptying_and_it_is_said(
    haven: tuple[Haven, MemoryAdapter], caplog: pytest.LogCaptureFixture
) -> None:
    running, adapter = haven
    victim = Victim(running, adapter)
    await leaky_case(victim)
    reader = sqlite3.connect(str(running.db.engine.url.database))
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM outbox").fetchone()  # holds its snapshot
        await erasure.erase(store_of(running), 1, actor="operator", reason="asked")
        said = [r for r in caplog.records if r.name == erasure.__name__]
        assert [(r.levelname, r.getMessage()) for r in said] == [
            (
                "WARNING",
                "case 1 is erased; the database's write-ahead log still holds earlier pages "
                "(a reader holds an older snapshot) until the next checkpoint",
            )
        ]
        assert SENDER.encode() in files_of(running)
    finally:
        reader.close()
    assert await running.db.flush_erased()
    assert SENDER.encode() not in files_of(running)


STAFF_NOTE = "called the wombatkeeper at the hotel desk"


async def test_staff_answers_about_the_case_lose_their_text_too(
    tmp_path: Path, clock: ManualClock
) -> None:
    """What the staff channel was shown of the case (its notes in /case, its custody
    trail) is the case's too: erasing the case blanks those messages as well."""
    rig = await open_rig(tmp_path / "data", clock)
    try:
        await triage(rig.victim, extortion="yes")
        await rig.command("alice", "note", f"1 {STAFF_NOTE}")
        shown = [
            *await rig.command("alice", "case", "1"),
            *await rig.command("bob", "custody", "1"),
        ]
        assert any("wombatkeeper" in message.text for message in shown)
        await rig.haven.sender.settle()
        await erasure.erase(store_of(rig.haven), 1, actor="operator", reason="asked")
        assert not [p for p in await payloads(rig.haven) if "wombatkeeper" in p]
    finally:
        await rig.haven.close()
