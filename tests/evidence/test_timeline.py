"""The incident timeline: notes, the order of things, honest times, and the export bundle."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.clock import ManualClock
from bot.evidence.verify import Problem, verify_bundle
from storage.schema import case_notes
from tests.conftest import Victim
from tests.conversation.test_journey import text_of, triage
from tests.evidence.test_evidence import attachment, forward, send_file
from tests.ops.test_cli import haven as run_haven
from tests.reminders.test_reminders import button, fire, reminder_messages
from tests.search.test_search import origin, utc

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 11, 6, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


async def build_case(victim: Victim, clock: ManualClock) -> None:
    clock.set(NOW)
    await triage(victim)
    # Forwarded out of order: 3 Nov, then 1 Nov; then a screenshot with no original date.
    await forward(victim, "截图已经发到公司群了", origin("张三", utc(2025, 11, 3, 6, 30)))
    await forward(victim, "Pay or I post them", origin("Li Si", utc(2025, 11, 1, 1)))
    await send_file(victim, attachment(b"\x89PNG screenshot", name="group.png"))
    await victim.command("memo", "saw it in the company group at 15:30 #1")
    await victim.command("memo", "a colleague told me")


async def test_timeline_is_in_the_order_things_happened(victim: Victim, clock: ManualClock) -> None:
    await build_case(victim, clock)
    (reply,) = await victim.command("timeline")
    lines = reply.text.splitlines()
    order = [
        next(i for i, line in enumerate(lines) if marker in line)
        for marker in (
            "Evidence #2: message from Li Si",  # 1 Nov 09:00 local
            "Evidence #1: message from 张三",  # 3 Nov 14:30
            "Your note #1: saw it in the company group",  # 5 Nov 15:30 (stated)
            "Evidence #3: photo",  # 6 Nov 10:00 (received; no original date)
            "Your note #2: a colleague told me",  # 6 Nov 10:00 (written)
        )
    ]
    assert order == sorted(order)
    assert "2025-11-01 09:00 · Evidence #2" in reply.text
    assert "2025-11-05 15:30 · Your note #1" in reply.text and "(about #1)" in reply.text
    photo = next(line for line in lines if "Evidence #3" in line)
    assert "(received)" in photo and "original time unknown" not in photo
    assert reply.text.count("original time unknown") == 1  # explained once, below
    note = next(line for line in lines if "Your note #2" in line)
    assert "(written)" in note
    assert "nothing recorded for 2 days" in reply.text  # 1 Nov → 3 Nov


async def test_memo_answers_where_the_note_went(victim: Victim, clock: ManualClock) -> None:
    clock.set(NOW)
    await triage(victim)
    (placed,) = await victim.command("memo", "2025-11-03 14:30 看到截图")
    assert "2025-11-03 14:30" in placed.text
    (unplaced,) = await victim.command("memo", "he messaged again")
    assert "didn't give a time" in unplaced.text
    (usage,) = await victim.command("memo")
    assert "/memo 2025-11-06 10:00" in usage.text
    (too_long,) = await victim.command("memo", "x" * 2001)
    assert "2000" in too_long.text


async def test_steps_taken_are_in_the_timeline(victim: Victim, clock: ManualClock) -> None:
    haven = victim.haven
    clock.set(NOW)
    await triage(victim)
    clock.advance(timedelta(hours=2))
    await victim.press("forward_evidence=done")
    (reply,) = await victim.command("timeline")
    title = text_of(haven, "en", "item.forward_evidence.title")
    assert f"2025-11-06 12:00 (marked) · Done: {title}" in reply.text


async def test_an_empty_timeline_says_how_to_fill_it(victim: Victim) -> None:
    await triage(victim)
    (reply,) = await victim.command("timeline")
    assert reply.text == text_of(victim.haven, "en", "timeline.empty")


async def exported(victim: Victim) -> Path:
    (reply,) = await victim.command("export")
    assert reply.file is not None
    return Path(reply.file.path)


async def test_the_export_holds_the_timeline_as_text_and_json(
    victim: Victim, clock: ManualClock
) -> None:
    await build_case(victim, clock)
    bundle = await exported(victim)
    report = verify_bundle(bundle, victim.haven.log_key.public_key())
    assert report.ok, report.findings
    with zipfile.ZipFile(bundle) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        text = archive.read("timeline.txt").decode()
        timeline = json.loads(archive.read("timeline.json"))
        readme = archive.read("README.txt").decode()
    assert manifest["timeline"] == {"text": "timeline.txt", "json": "timeline.json"}
    assert "timeline.json" in readme
    entries = timeline["entries"]
    assert [entry["at"] for entry in entries] == sorted(entry["at"] for entry in entries)
    evidence = [e for e in entries if e["type"] == "evidence"]
    assert [e["rests_on"] for e in evidence] == [{"item": 2}, {"item": 1}, {"item": 3}]
    assert [e["time_basis"] for e in evidence] == ["original", "original", "received"]
    assert all(entry["rests_on"] for entry in entries)
    notes_ = [e for e in entries if e["type"] == "note"]
    assert notes_[0]["rests_on"] == {"note": 1, "items": [1]}
    assert notes_[1]["time_basis"] == "written"
    assert "截图已经发到公司群了" in text  # the evidence text itself, in the export only
    assert text.index("Evidence #2") < text.index("Evidence #1") < text.index("Your note #1")


def rewritten(bundle: Path, name: str, data: bytes) -> Path:
    out = bundle.with_name("tampered.zip")
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, data if info.filename == name else source.read(info))
    return out


async def test_a_timeline_resting_on_an_item_not_in_the_bundle_is_found(
    victim: Victim, clock: ManualClock
) -> None:
    await build_case(victim, clock)
    bundle = await exported(victim)
    with zipfile.ZipFile(bundle) as archive:
        timeline = json.loads(archive.read("timeline.json"))
    timeline["entries"][0]["rests_on"] = {"item": 99}
    tampered = rewritten(bundle, "timeline.json", json.dumps(timeline).encode())
    report = verify_bundle(tampered)
    assert Problem.INCONSISTENT in report.problems()
    assert "99" in str(report.findings)
    broken = rewritten(bundle, "timeline.json", b"not json")
    assert Problem.FORMAT in verify_bundle(broken).problems()


def test_the_console_walkthrough(tmp_path: Path) -> None:
    """Forward with original dates from the console, add a note, see the order."""
    script = "\n".join(
        (
            "/forward 张三 @2025-11-03 14:30 | 截图已经发到公司群了",
            "/forward Li Si @2025-11-01 09:00 | Pay or I post them",
            "/memo 2025-11-02 20:00 he called my manager",
            "/timeline",
            "/search from:张三",
        )
    )
    config = tmp_path / "c.toml"
    config.write_text('default_locale = "en"\n', encoding="utf-8")
    args = ("run", "--adapter", "console", "--config", str(config))
    result = run_haven(*args, "--data-dir", str(tmp_path / "data"), stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    shown = result.stdout[result.stdout.index("you   › /timeline") :]
    first = shown.index("2025-11-01 09:00 · Evidence #2")
    second = shown.index("2025-11-02 20:00 · Your note #1")
    third = shown.index("2025-11-03 14:30 · Evidence #1")
    assert first < second < third
    found = result.stdout[result.stdout.index("you   › /search") :]
    assert "#1 · 2025-11-03 14:30" in found and "#2 ·" not in found


async def test_a_long_timeline_shows_the_latest_and_counts_the_rest(
    victim: Victim, clock: ManualClock
) -> None:
    clock.set(NOW)
    await triage(victim)
    for n in range(33):  # sent a day apart, forwarded newest first
        clock.advance(timedelta(seconds=3))  # slower than the flood guard's limit
        await forward(victim, f"message {n}", origin("张三", utc(2025, 10, 1) - timedelta(days=n)))
    await victim.command("memo", "2025-10-01 12:00 the last thing that happened")
    replies = await victim.command("timeline")  # cut to fit a phone's screen
    text = "\n".join(reply.text for reply in replies)
    assert len(replies) > 1
    assert "(entries: 34;" in replies[0].text
    assert "…4 earlier entries aren't shown here" in replies[0].text
    lines = [line for line in text.splitlines() if " · " in line]
    assert len(lines) == 30
    assert "Evidence #29" in lines[0] and "Your note #1" in lines[-1]
    assert "Evidence #1:" in lines[-2]


async def test_reminders_answered_are_in_the_timeline(victim: Victim, clock: ManualClock) -> None:
    haven = victim.haven
    clock.set(NOW)
    await triage(victim)
    await fire(victim, clock, timedelta(minutes=30))
    title = text_of(haven, "en", "item.forward_evidence.title")
    (message,) = [m for m in reminder_messages(victim) if title in m.text]
    await victim.raw_press(button(message, "no"))
    (reply,) = await victim.command("timeline")
    answered = f"2025-11-06 10:30 (marked) · Reminder answered, not relevant: {title}"
    assert answered in reply.text


async def test_erasing_the_case_deletes_its_notes(victim: Victim, clock: ManualClock) -> None:
    await build_case(victim, clock)
    await victim.command("erase")
    await victim.raw_press("erase:yes:1")
    async with victim.haven.db.transaction() as conn:
        left = await conn.execute(select(func.count()).select_from(case_notes))
        assert left.scalar() == 0
