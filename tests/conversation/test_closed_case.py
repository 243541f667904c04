"""A closed case stays reachable: the person's next message takes it up again, with the
choice of a separate new case; erasing names the case; after erasure Haven answers in
the person's language."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.clock import ManualClock
from storage import cases
from storage.schema import cases as cases_table
from storage.schema import evidence_items
from tests.conftest import Victim
from tests.conversation.test_journey import finish_step, text_of, triage
from tests.evidence.test_evidence import LEAKED, forward


async def scalar(victim: Victim, query: object) -> object:
    async with victim.haven.db.transaction() as conn:
        return (await conn.execute(query)).scalar()  # type: ignore[call-overload]


async def close_case(victim: Victim) -> None:
    await triage(victim)
    await forward(victim, LEAKED)
    await finish_step(victim, 1)
    await victim.press("path=complaint")
    await finish_step(victim, 2)
    await finish_step(victim, 3)
    closing = text_of(victim.haven, "en", "ui.case_closed", retention_days=180)
    assert victim.adapter.last(victim.user).text.endswith(closing)


async def test_a_message_after_closing_takes_the_closed_case_up_again(
    victim: Victim, clock: ManualClock
) -> None:
    await close_case(victim)
    clock.advance(timedelta(days=2))
    listing = await victim.command("evidence")
    shown = "\n".join(m.text for m in listing)
    assert "continues your case #1" in shown
    assert "Nothing is kept" not in shown and "1 items" not in shown.replace("1 item", "")
    assert "#1" in shown
    respread = await forward(victim, "又有人转发了 — shared again in another group")
    assert any("#2" in m.text for m in respread)
    in_case_1 = (
        select(func.count()).select_from(evidence_items).where(evidence_items.c.case_id == 1)
    )
    assert await scalar(victim, in_case_1) == 2
    assert await scalar(victim, select(func.count()).select_from(cases_table)) == 1
    (asked,) = await victim.command("erase")
    assert "case #1" in asked.text
    async with victim.haven.db.transaction() as conn:
        case = await cases.get(conn, 1)
    assert case is not None and case.status == "open" and case.closed_at is None


async def test_the_person_may_close_it_again_or_start_a_new_case(
    victim: Victim, clock: ManualClock
) -> None:
    await close_case(victim)
    clock.advance(timedelta(days=2))  # they come back later (and within the flood budget)
    await victim.command("start")
    done = victim.adapter.last(victim.user)
    assert "case #1 is open again" in done.text
    closed = await victim.press("close:")
    assert any(m.text.startswith("Your case is closed") for m in closed)
    (taken_up, *_) = await victim.command("status")
    assert [b.data for row in taken_up.buttons for b in row] == ["newcase:1"]
    fresh = await victim.raw_press("newcase:1")
    assert await scalar(victim, select(func.max(cases_table.c.id))) == 2
    assert fresh and fresh[-1].buttons  # the new case begins: the language choice
    status_1 = select(cases_table.c.status).where(cases_table.c.id == 1)
    assert await scalar(victim, status_1) == "closed"


async def test_after_erasure_haven_answers_in_the_persons_language(victim: Victim) -> None:
    await triage(victim)  # in English; the deployment's default is Chinese
    await forward(victim, LEAKED)
    await victim.command("erase")
    (done,) = await victim.press("yes:1")
    assert "Your case #1 has been erased" in done.text
    (again, *_) = await victim.text("hello")
    assert await scalar(victim, select(func.max(cases_table.c.id))) == 2
    english = text_of(victim.haven, "en", "ui.choose_language")
    assert english.splitlines()[0] in again.text
