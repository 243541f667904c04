"""Benchmark: the case report and the extraction record of a large case, rendered for real.

A case of 1,000 evidence items (100 of them pictures) is kept through Haven's own intake
(the in-memory adapter, SQLite, real encryption and log) in a child process. This
process, which did nothing else, then times what a lawyer's request costs: the case
report (bot/evidence/case_report.py: every row checked against the log, the timeline,
thumbnails, the PDF) and the extraction record (CSV and PDF) of the case's bundle. The
baseline, measured in the same run: writing the same words (the documents' HTML) to a
plain file. Peak RSS is this process's own, taken before the baseline's text is extracted;
CPU time is printed beside the wall time, since a shared machine stretches the latter.
Ends with one JSON line.
Targets (issue 19): report + record <= 10 s and <= 300 MB RSS.

    .venv/bin/python bench/report.py [--items 1000] [--images 100]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Not bench/ itself: bench/telegram.py would shadow the telegram package.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import MemoryAdapter, victim_event
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.events import Attachment, ForwardOrigin, Inbound, InboundKind, OriginKind
from bot.evidence import case_report
from bot.evidence.bundle import Bundle, SignedTreeHead
from bot.evidence.export import read_case_evidence
from bot.evidence.extraction_record import RecordMaker, haven_version
from bot.evidence.keyfiles import log_origin
from bot.ops.operator import open_store
from bot.runtime import Haven
from storage import ledger

NOW = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
CONFIG = '[[escalation.levels]]\nchannels = ["memory:staff"]\n'


def config_in(root: Path) -> Config:
    (root / "bench.toml").write_text(CONFIG)
    return load_config(root / "bench.toml", data_dir_override=root / "data")


def picture(number: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    colour = (number * 37 % 256, number * 91 % 256, number * 53 % 256)
    Image.new("RGB", (800, 600), colour).save(out, "PNG")
    return out.getvalue()


def event_of(kind: InboundKind, **fields: object) -> Inbound:
    return victim_event(MemoryAdapter.platform, "victim", kind, **fields)


async def seed(root: Path, items: int, images: int) -> None:
    adapter = MemoryAdapter()
    clock = ManualClock()
    clock.set(NOW)
    haven = await Haven.open(config_in(root), {adapter.platform: adapter}, clock)
    try:
        await haven.handle_and_deliver(event_of(InboundKind.COMMAND, command="start"))
        every = max(1, items // max(images, 1))
        for number in range(items):
            clock.advance(timedelta(seconds=7))
            if images and number % every == 0 and number // every < images:
                data = picture(number)

                async def fetch(data: bytes = data) -> bytes:
                    return data

                shot = Attachment("photo", fetch, f"截图 screenshot {number}.png", "image/png")
                event = event_of(InboundKind.ATTACHMENT, attachments=(shot,))
            else:
                origin = ForwardOrigin(
                    OriginKind.USER,
                    sender_name=f"张三 Zhang San {number % 7}",
                    chat_title="公司同事群 Office group",
                    original_date=NOW - timedelta(days=30, minutes=number),
                )
                text = f"第{number}条：不给钱就发到群里 — message {number}, pay or else"
                event = event_of(InboundKind.FORWARD, text=text, forward_origin=origin)
            await haven.handle_and_deliver(event)
    finally:
        await haven.close()


def seed_in_child(root: Path, items: int, images: int) -> None:
    asyncio.run(seed(root, items, images))


async def measure(root: Path) -> dict[str, float | int]:
    config = config_in(root)
    async with open_store(config) as store:
        cpu = time.process_time()
        started = time.perf_counter()
        report = await case_report.write_report(
            store, 1, root / "report.pdf", actor="bench", reason="bench"
        )
        report_s = time.perf_counter() - started
        started = time.perf_counter()
        evidence = await read_case_evidence(store, 1)
        origin = log_origin(config, store.log_key)
        async with store.db.transaction() as conn:
            signed = await ledger.sign_head(conn, store.log_key, store.clock.now(), origin=origin)
        bundle = Bundle(
            case_id="1",
            locale=evidence.case.locale,
            exported_at=datetime.now(UTC),
            exported_by="bench",
            reason="bench",
            tree_head=SignedTreeHead(signed.head, signed.signature),
            log_key=store.log_key.public_key().public_bytes_raw(),
            items=tuple(evidence.items),
            checkpoint=signed.checkpoint,
        )
        csv_bytes, pdf_bytes = await asyncio.to_thread(
            RecordMaker(evidence.case.platform, haven_version()), bundle, bytes(32)
        )
        record_s = time.perf_counter() - started
        cpu_s = time.process_time() - cpu
    # Before the baseline's text is extracted with pypdf, which costs memory of its own.
    rss = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    text = pdf_text(report.path.read_bytes()) + pdf_text(pdf_bytes) + csv_bytes.decode("utf-8-sig")
    plain = root / "plain.txt"
    started = time.perf_counter()
    with plain.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    base_s = time.perf_counter() - started
    total = report_s + record_s
    return {
        "items": report.items,
        "report_s": round(report_s, 3),
        "record_s": round(record_s, 3),
        "total_s": round(total, 3),
        "cpu_s": round(cpu_s, 3),
        "peak_rss_mb": rss,
        "report_kb": round(report.path.stat().st_size / 1024, 1),
        "record_pdf_kb": round(len(pdf_bytes) / 1024, 1),
        "baseline_s": round(base_s, 5),
        "ratio": round(total / base_s, 1),
    }


def pdf_text(data: bytes) -> str:
    """The words a PDF shows (for the baseline, untimed)."""
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="haven-bench-report-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=seed_in_child, args=(root, args.items, args.images)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit("seeding the case failed")
        seeded_s = time.perf_counter() - started
        figures = asyncio.run(measure(root))
    print(f"seeded {args.items} items ({args.images} pictures) in {seeded_s:.1f} s (not timed)")
    print(
        f"case report {figures['report_s']} s ({figures['report_kb']} KB), "
        f"extraction record {figures['record_s']} s (PDF {figures['record_pdf_kb']} KB)"
    )
    print(
        f"together {figures['total_s']} s against {figures['baseline_s']} s to write the same "
        f"words to a plain file: ratio {figures['ratio']}; CPU time {figures['cpu_s']} s "
        f"(wall time above counts waiting for a busy machine's cores too); "
        f"peak RSS {figures['peak_rss_mb']} MB"
    )
    print(json.dumps({"bench": "report", **figures}))


if __name__ == "__main__":
    main()
