"""The case report and the extraction record, rendered for real (WeasyPrint, Noto CJK),
read back with pypdf and pdftoppm: the case's Chinese and English words and every
item's SHA-256 are in them; `/report` is delivered like `/export`; `haven report` is a
custody event and refuses to overwrite."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from pypdf import PdfReader
from sqlalchemy import select

from adapters.memory import MemoryAdapter
from bot.clock import ManualClock
from bot.config import Config
from bot.events import ForwardOrigin, OriginKind
from bot.ops.cli import main
from bot.runtime import Haven
from storage.schema import custody_events
from tests.conftest import Victim, make_config
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import attachment, forward, send_file
from tests.ops.test_operator_cli import query

THREAT = "不给钱就把截图发到你们公司群 — pay or I post the screenshots"
SENDER = "张三 Zhang San"
GROUP = "公司同事群 Office group"


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (640, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


PHOTO = picture((200, 40, 40))


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def squeezed(text: str) -> str:
    return "".join(text.split())


async def zh_case(victim: Victim) -> None:
    await triage(victim, lang="zh-CN", extortion="yes")
    origin = ForwardOrigin(
        kind=OriginKind.USER,
        sender_name=SENDER,
        chat_title=GROUP,
        original_date=datetime(2025, 11, 3, 6, 30, tzinfo=UTC),
    )
    await forward(victim, THREAT, origin)
    await send_file(victim, attachment(PHOTO, name="聊天截图 chat.png"))


async def test_report_holds_the_cases_words_hashes_and_a_thumbnail(
    victim: Victim, tmp_path: Path
) -> None:
    await zh_case(victim)
    (reply, *_) = await victim.command("report")
    assert reply.file is not None and reply.file.mime_type == "application/pdf"
    assert reply.file.file_name == "haven-case-1-report.pdf"
    await asyncio.to_thread(check_report, Path(reply.file.path), tmp_path)


def check_report(path: Path, tmp_path: Path) -> None:
    assert path.parent.name == "exports"  # handed over like /export
    assert path.stat().st_mode & 0o777 == 0o600
    data = path.read_bytes()
    text = pdf_text(data)
    for words in ("案件报告", "事件时间线", "证据", "已采取的步骤", "如何核验证据包", "勒索"):
        assert words in text, words
    # Chinese punctuation between Chinese words, even where the code joins a list.
    assert re.search(r"[\u4e00-\u9fff][,;:] ?[\u4e00-\u9fff]", text) is None
    flat = squeezed(text)
    for words in (THREAT, SENDER, GROUP, "pay or I post the screenshots"):
        assert squeezed(words) in flat, words
    for content in (THREAT.encode(), PHOTO):
        assert hashlib.sha256(content).hexdigest() in flat
    reader = PdfReader(io.BytesIO(data))
    images = {image.name: image.data for page in reader.pages for image in page.images}
    assert len(images) == 1  # the one picture, small
    assert all(max(Image.open(io.BytesIO(data)).size) <= 360 for data in images.values())
    fonts = {
        str(font["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert any("+Noto-Sans-CJK" in name for name in fonts), fonts  # a subset, embedded
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
        check=True,
    )
    (png,) = tmp_path.glob("p-*1.png")
    rendered = Image.open(png).convert("L")
    assert rendered.getextrema()[0] < 100  # text was drawn: not a blank page


async def test_the_bundle_carries_the_extraction_record_in_the_cases_language(
    victim: Victim,
) -> None:
    await zh_case(victim)
    (reply, *_) = await victim.command("export")
    assert reply.file is not None
    with zipfile.ZipFile(reply.file.path) as archive:
        sums = archive.read("SHA256SUMS")
        record_csv = archive.read("extraction-record.csv").decode("utf-8-sig")
        record_pdf = archive.read("extraction-record.pdf")
        checkpoint = archive.read("checkpoint").decode()
    rows = list(csv.reader(io.StringIO(record_csv)))
    assert rows[0] == ["电子数据提取记录（参考）"]
    assert "不是电子数据取证工具" in rows[1][0]
    header = rows.index(next(r for r in rows if r and r[0] == "编号"))
    first, second = rows[header + 1], rows[header + 2]
    assert first[:4] == ["1", "文字", SENDER, "2025-11-03T06:30:00Z"]
    assert GROUP in first[4] and "Telegram" not in first[4]
    assert first[8] == hashlib.sha256(THREAT.encode()).hexdigest()
    assert second[1] == "图片" and second[6] == "聊天截图 chat.png"
    assert second[7] == str(len(PHOTO)) and second[8] == hashlib.sha256(PHOTO).hexdigest()
    assert "Haven" in second[9]
    bundle_hash = hashlib.sha256(sums).hexdigest()
    assert [bundle_hash] == [r[1] for r in rows if len(r) > 1 and r[0].startswith("证据包哈希值")]
    text = squeezed(pdf_text(record_pdf))
    assert squeezed("电子数据提取记录") in text and bundle_hash in text
    assert squeezed(checkpoint.splitlines()[0]) in text
    assert hashlib.sha256(PHOTO).hexdigest() in text


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, list[str]]:
    data = tmp_path / "data"
    config = make_config(data)

    async def fill() -> None:
        adapter = MemoryAdapter()
        haven = await Haven.open(config, {adapter.platform: adapter}, ManualClock())
        try:
            await zh_case(Victim(haven, adapter))
        finally:
            await haven.close()

    asyncio.run(fill())
    return config, ["--config", str(tmp_path / "data.toml"), "--data-dir", str(data)]


def test_haven_report_is_a_custody_event_and_never_overwrites(
    store: tuple[Config, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = store
    out = tmp_path / "report.pdf"
    assert main(["report", "1", "--out", str(out), "--reason", "for counsel", *args]) == 0
    assert "report with 2 item(s)" in capsys.readouterr().out
    assert squeezed(THREAT) in squeezed(pdf_text(out.read_bytes()))
    events = query(config, select(custody_events.c.action, custody_events.c.reason))
    assert ("report", "for counsel") in [tuple(row) for row in events]
    assert main(["report", "1", "--out", str(out), "--reason", "again", *args]) == 1
    assert "exists" in capsys.readouterr().err
