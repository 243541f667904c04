"""Danger signals in the words that come with evidence, through the real core.

Forwarded words are someone else's: a threat or a demand against the person raises the
case and alerts the staff, once; someone else's talk of suicide is not the person's cry
for help. A caption on the person's own upload, or a message of their own they forward, is
their own words, read like a message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import select

from adapters.memory import MemoryAdapter
from bot.events import ForwardOrigin, InboundKind, OriginKind, Outbound
from bot.runtime import Haven
from storage.schema import cases
from tests.conftest import Victim
from tests.conversation.test_journey import text_of, triage
from tests.evidence.test_evidence import attachment, forward, stored_items

THREAT = "我知道你住哪，你给我等着"
DEMAND = "Transfer 20000 by Friday, otherwise I'll send them to your family — 不给钱就发到你公司群"


RECEIPT = "✅ Kept"


def said(replies: list[Outbound]) -> str:
    return "\n\n".join(reply.text for reply in replies)


async def severity(haven: Haven) -> str:
    async with haven.db.transaction() as conn:
        return str((await conn.execute(select(cases.c.severity))).scalar_one())


async def test_a_forwarded_threat_raises_the_case_and_alerts_the_staff_once(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await triage(victim)
    assert await severity(core) == "normal"
    answer = said(await forward(victim, THREAT))
    warning = text_of(core, "en", "signal.threat.forwarded_reply")
    assert answer.startswith(warning), "the warning first, with the emergency numbers"
    assert "110" in answer and RECEIPT in answer
    assert await severity(core) == "critical"
    alerts = len(adapter.sent["staff"])
    assert alerts, "the staff channel was told"

    again = said(await forward(victim, THREAT + "!!"))
    assert RECEIPT in again and warning not in again, "warned once, not per message"
    assert len(adapter.sent["staff"]) == alerts, "no second alert for the same reason"
    assert len(await stored_items(core)) == 2, "both kept"


async def test_a_forwarded_demand_is_answered_in_the_persons_language(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await victim.command("start")
    await victim.press("lang:zh-CN")
    answer = said(await forward(victim, DEMAND))
    assert answer.startswith(text_of(core, "zh-CN", "signal.extortion.forwarded_reply"))
    assert await severity(core) == "critical"
    assert adapter.sent["staff"]


async def test_someone_elses_talk_of_suicide_is_kept_but_not_taken_as_the_persons(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    core, adapter = haven
    await triage(victim)
    answer = said(await forward(victim, "你这种人怎么还不去自杀"))
    assert answer.startswith(RECEIPT), "the receipt alone"
    assert text_of(core, "en", "signal.self_harm.reply") not in answer
    assert await severity(core) == "normal"
    assert not adapter.sent["staff"]
    assert len(await stored_items(core)) == 1


async def their_own_forward(victim: Victim, text: str) -> list[Outbound]:
    themselves = ForwardOrigin(OriginKind.USER, sender_name="Me", sender_id=victim.user)
    return await forward(victim, text, themselves)


async def captioned_upload(victim: Victim, text: str) -> list[Outbound]:
    screenshot = attachment(b"\x89PNG the group chat")
    return await victim._send(InboundKind.ATTACHMENT, text=text, attachments=(screenshot,))


@pytest.mark.parametrize("send", [their_own_forward, captioned_upload])
async def test_the_persons_own_words_with_evidence_are_read_as_theirs(
    haven: tuple[Haven, MemoryAdapter],
    victim: Victim,
    send: Callable[[Victim, str], Awaitable[list[Outbound]]],
) -> None:
    core, adapter = haven
    await triage(victim)
    answer = said(await send(victim, "please delete it, I can't go on, 我真的不想活了"))
    assert answer.startswith(text_of(core, "en", "signal.self_harm.reply")), "before the receipt"
    assert "000-TEST" in answer and RECEIPT in answer, "with the support lines"
    assert await severity(core) == "critical"
    assert adapter.sent["staff"]
