"""Evidence is never dropped for coming fast: past its own budget it is paced and kept.

The budget is per person, in items and bytes a minute ([limits] evidence_*); ordinary
chatter keeps its own flood limit. The manual clock stands in for time: a paced item's
wait moves it instead of sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.events import ForwardOrigin, InboundKind, OriginKind
from bot.runtime import Haven
from storage import evidence_items
from tests.backends import Backend
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import text_of
from tests.evidence.test_evidence import attachment

LIMITS = """
[limits]
flood_messages = 5
flood_window_seconds = 60
evidence_items_per_minute = 10
evidence_bytes_per_minute = 1048576
"""


@pytest.fixture
async def paced(
    tmp_path: Path, backend: Backend, clock: ManualClock
) -> AsyncIterator[tuple[Haven, MemoryAdapter]]:
    adapter = MemoryAdapter()
    core = await Haven.open(
        make_config(tmp_path / "data", LIMITS), {adapter.platform: adapter}, clock
    )
    yield core, adapter
    await core.close()


async def kept(core: Haven) -> int:
    async with core.db.transaction() as conn:
        return len(await evidence_items.for_case(conn, 1))


async def test_a_burst_of_forwards_is_paced_never_dropped(
    paced: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    core, adapter = paced
    victim = Victim(core, adapter, "forwarder")
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name="Zhang San")
    started = clock.now()
    for n in range(40):
        await victim._send(
            InboundKind.FORWARD, text=f"forwarded {n}", forward_origin=origin, message_id=f"f{n}"
        )
    assert await kept(core) == 40, "every forward is kept, however fast they came"
    texts = [m.text for m in adapter.sent["forwarder"]]
    assert texts.count(text_of(core, "zh-CN", "ui.evidence_paced")) == 1, "told once"
    assert text_of(core, "zh-CN", "ui.flood") not in texts, "evidence is not chatter"
    # Ten a minute: the first ten at once, the other thirty one every six seconds.
    assert clock.now() - started >= timedelta(minutes=3)


async def test_chatter_is_still_limited_while_evidence_is_kept(
    paced: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    core, adapter = paced
    victim = Victim(core, adapter, "both")
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name="Li Si")
    chatter = [await victim.text(f"hello {n}") for n in range(8)]
    assert not chatter[-1], "chatter past its flood limit is not answered"
    replies = await victim._send(
        InboundKind.FORWARD, text="a threat", forward_origin=origin, message_id="f1"
    )
    assert replies, "a forward right after the chatter flood is still received"
    assert await kept(core) == 1


async def test_big_files_past_the_byte_budget_wait_and_are_kept(
    paced: tuple[Haven, MemoryAdapter], clock: ManualClock
) -> None:
    core, adapter = paced
    victim = Victim(core, adapter, "uploader")
    started = clock.now()
    for n in range(3):
        content = bytes([n]) * 600_000
        file = attachment(content, name=f"shot-{n}.png", size=len(content))
        await victim._send(InboundKind.ATTACHMENT, attachments=(file,), message_id=f"a{n}")
    assert await kept(core) == 3
    # 1.8 MB against 1 MiB a minute: 0.75 MB over the first minute's budget, which
    # refills at 17.5 kB a second: the second and third waited 43 s between them.
    assert clock.now() - started >= timedelta(seconds=40)
    texts = [m.text for m in adapter.sent["uploader"]]
    assert texts.count(text_of(core, "zh-CN", "ui.evidence_paced")) == 1
