"""What is exported must match the log (issue 17): a row whose SHA-256, sender or time
was changed, a deleted row, swapped numbers — the export is refused, the victim told
kindly, the staff alerted; the operator's `haven export` says so in one line. And
`haven export --out` never overwrites by surprise nor follows a link."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from adapters.memory import MemoryAdapter
from bot.config import Config
from bot.evidence.vetting import ALERT_REASON
from bot.ops.cli import main
from bot.runtime import Haven
from storage.schema import escalations, evidence_items
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import LEAKED, attachment, forward, send_file
from tests.ops.test_operator_cli import PHOTO, _victim_with_evidence, query

Statement = Callable[[], Any]
ITEM_1 = evidence_items.c.item_no == 1


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, list[str]]:
    data = tmp_path / "data"
    config = make_config(data)
    asyncio.run(_victim_with_evidence(config))
    return config, ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]


def swap_numbers() -> list[Any]:
    """Items 1 and 2 trade numbers (through 99, the primary key being the pair)."""
    table = evidence_items
    where = table.c.case_id == 1
    return [
        update(table).where(where, table.c.item_no == 1).values(item_no=99),
        update(table).where(where, table.c.item_no == 2).values(item_no=1),
        update(table).where(where, table.c.item_no == 99).values(item_no=2),
    ]


TAMPERING = {
    "sha256": ([update(evidence_items).where(ITEM_1).values(content_sha256="0" * 64)], "SHA-256"),
    "sender": (
        [update(evidence_items).where(ITEM_1).values(origin_sender="Zed")],
        "sender or source",
    ),
    "received": (
        [update(evidence_items).where(ITEM_1).values(received_at=datetime(2020, 1, 1, tzinfo=UTC))],
        "time received",
    ),
    "deleted": ([delete(evidence_items).where(ITEM_1)], "item 1: its row is missing"),
    "swapped": (swap_numbers(), "item 1: "),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_export_refuses_rows_the_log_contradicts(
    store: tuple[Config, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
) -> None:
    config, args = store
    statements, named = TAMPERING[case]
    for statement in statements:
        query(config, statement)
    out = tmp_path / "case-1.zip"
    assert main(["export", "1", "--out", str(out), "--reason", "court", *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "do not match the evidence log, so nothing was exported" in err
    assert named in err
    assert "Zed" not in err and LEAKED not in err  # what differs, never the values
    assert not out.exists()


def test_an_untouched_case_still_exports(store: tuple[Config, list[str]], tmp_path: Path) -> None:
    _, args = store
    out = tmp_path / "case-1.zip"
    assert main(["export", "1", "--out", str(out), "--reason", "court", *args]) == 0
    assert main(["verify", str(out)]) == 0


async def test_the_victim_is_told_kindly_and_the_staff_alerted(
    victim: Victim, haven: tuple[Haven, MemoryAdapter]
) -> None:
    running, adapter = haven
    await triage(victim)
    await forward(victim, LEAKED)
    await send_file(victim, attachment(PHOTO, name="shot.png"))
    async with running.db.transaction() as conn:
        await conn.execute(update(evidence_items).where(ITEM_1).values(origin_sender="Zed"))
    replies = await victim.command("export")
    mismatch = running.playbook.texts.get("en", "export.mismatch")
    assert any(mismatch in reply.text for reply in replies)
    assert all(reply.file is None for reply in replies)
    async with running.db.transaction() as conn:
        reasons = (await conn.execute(select(escalations.c.reasons))).scalars().all()
    assert any(ALERT_REASON in reason for reason in reasons)
    staff_locale = running.config.default_locale
    staff_text = running.playbook.texts.get(staff_locale, f"reason.{ALERT_REASON}")
    assert any(staff_text in message.text for message in adapter.sent["staff"])
    assert not list((running.config.data_dir / "exports").glob("*.zip"))


def test_export_out_refuses_an_existing_file_unless_forced(
    store: tuple[Config, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, args = store
    out = tmp_path / "precious.zip"
    out.write_bytes(b"not to be lost")
    assert main(["export", "1", "--out", str(out), "--reason", "r", *args]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"not to be lost"
    assert main(["export", "1", "--out", str(out), "--reason", "r", "--force", *args]) == 0
    assert main(["verify", str(out)]) == 0


def test_export_out_never_follows_a_link(
    store: tuple[Config, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, args = store
    target = tmp_path / "shadow"
    target.write_bytes(b"root:*:19000:0:99999:7:::\n")
    link = tmp_path / "bundle.zip"
    link.symlink_to(target)
    assert main(["export", "1", "--out", str(link), "--reason", "r", *args]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["export", "1", "--out", str(link), "--reason", "r", "--force", *args]) == 0
    assert target.read_bytes() == b"root:*:19000:0:99999:7:::\n"
    assert not link.is_symlink() and main(["verify", str(link)]) == 0
    assert (
        hashlib.sha256(target.read_bytes()).hexdigest()
        != hashlib.sha256(link.read_bytes()).hexdigest()
    )


async def test_evidence_and_search_do_not_show_what_the_log_contradicts(
    victim: Victim, haven: tuple[Haven, MemoryAdapter]
) -> None:
    running, adapter = haven
    await triage(victim)
    await forward(victim, LEAKED)
    await forward(victim, "second message, untouched")
    forged = "f" * 64
    async with running.db.transaction() as conn:
        await conn.execute(
            update(evidence_items).where(ITEM_1).values(content_sha256=forged, origin_sender="Zed")
        )
    (listing,) = await victim.command("evidence")
    marked = running.playbook.texts.get("en", "evidence.list_contradicted", item_no=1)
    assert marked in listing.text
    assert forged[:12] not in listing.text and "Zed" not in listing.text
    assert "#2 · " in listing.text  # the untouched item is listed as usual
    (found, *_) = await victim.command("search", "from:Zed")
    assert "Zed" not in found.text.replace("from:Zed", "")
    (found, *_) = await victim.command("search", "screenshots")
    assert f"#1 · {running.playbook.texts.get('en', 'search.contradicted')}" in found.text
    (found, *_) = await victim.command("search", "second")
    assert "#2 · " in found.text and "second message" in found.text
    staff_text = running.playbook.texts.get(running.config.default_locale, f"reason.{ALERT_REASON}")
    assert any(staff_text in message.text for message in adapter.sent["staff"])


@pytest.mark.parametrize(
    "forged",
    [
        {"origin_sender": "Zed"},
        {"received_at": datetime(2020, 1, 1, tzinfo=UTC)},
        {"content_sha256": "0" * 64},
    ],
    ids=["sender", "received", "sha256"],
)
async def test_the_timeline_does_not_show_what_the_log_contradicts(
    victim: Victim, haven: tuple[Haven, MemoryAdapter], forged: dict[str, Any]
) -> None:
    running, adapter = haven
    await triage(victim)
    await forward(victim, LEAKED)
    await forward(victim, "second message, untouched")
    async with running.db.transaction() as conn:
        await conn.execute(update(evidence_items).where(ITEM_1).values(**forged))
    (shown,) = await victim.command("timeline")
    marked = running.playbook.texts.get("en", "evidence.list_contradicted", item_no=1)
    assert marked in shown.text
    assert "Zed" not in shown.text and "2020-01-01" not in shown.text
    assert "Evidence #1:" not in shown.text  # not placed as if its row were true
    assert "Evidence #2: message from Zhang San" in shown.text
    staff_text = running.playbook.texts.get(running.config.default_locale, f"reason.{ALERT_REASON}")
    assert any(staff_text in message.text for message in adapter.sent["staff"])
