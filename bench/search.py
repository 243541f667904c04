"""Benchmark: evidence search and the timeline over one large case, against a baseline.

A case of N text items (default 10,000), mixed Chinese and English, 300 B to 4 KB each,
sealed with the case's data key as intake seals them, with original dates over two
months and twenty senders. A keyword is planted in about 1% of the items, in simplified
and traditional characters (and an English one, in mixed case).

1. ``Searcher.search`` for the keyword: batches read in their own transactions, every
   candidate decrypted, matched (width, case, traditional/simplified), masked snippets
   for staff, and the custody event — against a baseline in the same run: a plain
   substring scan (``in``) over the same plaintexts kept unencrypted in a table of the
   same database, read in the same batches. Also shown: the same scan over plaintexts
   already in memory (no reading at all), for scale.
2. The same search with a sender, a window and a kind, and the victim's ``/search``
   end to end through the dispatcher (case lookup, turn, reply in the outbox).
3. ``/timeline``: the case's timeline built and rendered for the chat, end to end; and
   the whole timeline rendered as the export's text and JSON.
4. Memory: the peak traced allocation during a search, against the total plaintext.

Targets from issue 8: search <= 1 s and <= 3x the baseline; timeline <= 1 s; memory
bounded (a search's peak is a batch, not the case). Ends with one JSON line.

    .venv/bin/python bench/search.py [--items 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select

# The repository instead of bench/ itself, where a sibling such as bench/telegram.py
# would shadow the library of the same name.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.memory import MemoryAdapter, victim_event
from bot.config import load_config
from bot.events import InboundKind
from bot.evidence.intake import TEXT_MIME
from bot.evidence.timeline import Timelines
from bot.runtime import Haven
from bot.search.query import parse_query
from bot.search.searcher import Searcher
from storage import case_keys, cases, ledger
from storage.evidence_search import BATCH_SIZE, Window
from storage.leaves import SALT_SIZE, EvidenceLeaf, LeafKind, content_commitment, item_id
from storage.schema import evidence_items
from storage.vault import seal

START = datetime(2025, 9, 1, tzinfo=UTC)
USER = "bench-victim"
CONFIG = "[limits]\nflood_messages = 100000000\nmax_case_bytes = 100000000000\n"
CHINESE = [
    "他把聊天记录发到了公司群里",
    "大家都在转发",
    "我不知道该怎么办",
    "请帮我保存证据",
    "昨天晚上十点左右",
    "群里有人说",
    "这件事已经传开了",
    "我的领导也看到了",
    "对方说要我给钱",
    "否则就继续发",
    "我已经报警",
    "派出所让我先收集材料",
    "这是转账记录",
    "这是对方的账号",
]
ENGLISH = [
    "he",
    "posted",
    "our",
    "private",
    "chat",
    "in",
    "the",
    "group",
    "everyone",
    "is",
    "forwarding",
    "it",
    "I",
    "do",
    "not",
    "know",
    "what",
    "to",
    "do",
    "please",
    "keep",
    "this",
    "as",
    "evidence",
    "last",
    "night",
    "around",
    "ten",
    "someone",
    "said",
    "it",
    "has",
    "spread",
    "my",
    "manager",
    "saw",
    "it",
    "too",
    "they",
    "want",
    "money",
    "or",
    "they",
    "will",
    "keep",
    "posting",
]
SENDERS = [f"{name}{n}" for name in ("张三", "李四", "Wang", "Chen") for n in range(5)]
KEYWORDS = ("截图证据", "截圖證據", "ScreenShot")


def plaintexts(count: int, rng: random.Random) -> list[str]:
    texts = []
    for n in range(count):
        size = rng.randint(300, 4096)
        words: list[str] = []
        length = 0
        while length < size:
            word = rng.choice(CHINESE) if rng.random() < 0.6 else rng.choice(ENGLISH)
            words.append(word)
            length += len(word.encode()) + 1
        if n % 100 == 7:
            words.insert(rng.randrange(len(words)), KEYWORDS[(n // 100) % len(KEYWORDS)])
        texts.append(" ".join(words).encode()[:size].decode(errors="ignore"))
    return texts


plain_table = Table(
    "bench_plain", MetaData(), Column("item_no", Integer, primary_key=True), Column("text", Text)
)


async def seed(haven: Haven, texts: list[str], rng: random.Random) -> int:
    """The case, its key, its items and their log leaves, in one transaction (set-up)."""
    now = START + timedelta(days=90)
    async with haven.db.transaction() as conn:
        case = await cases.create(
            conn, platform="memory", user_id=USER, chat_id=USER, locale="zh-CN", now=now
        )
        key = await case_keys.data_key_for_new_item(conn, haven.keyring, case.id, now)
        rows = []
        case_bytes = 0  # each row holds its case's running total (storage/evidence_items.py)
        for number, text in enumerate(texts, start=1):
            content, salt = text.encode(), os.urandom(SALT_SIZE)
            case_bytes += len(content)
            sent = START + timedelta(minutes=rng.randrange(60 * 24 * 60))
            leaf = EvidenceLeaf(
                case_id=case.id,
                item_no=number,
                kind="text",
                received_at=now,
                original_date=sent,
                size=len(content),
                mime_type=TEXT_MIME,
                origin_kind="user",
                origin_commitment="",
                content_commitment=content_commitment(salt, content),
            )
            appended = await ledger.append(conn, LeafKind.EVIDENCE, leaf.to_bytes(), now)
            rows.append(
                {
                    "case_id": case.id,
                    "item_no": number,
                    "kind": "text",
                    "origin_kind": "user",
                    "origin_sender": rng.choice(SENDERS),
                    "original_date": sent,
                    "received_at": now,
                    "size": len(content),
                    "mime_type": TEXT_MIME,
                    "file_name": "message.txt",
                    "content_sha256": f"{number:064x}",
                    "content_commitment": content_commitment(salt, content),
                    "sealed": seal(key, salt + content, item_id(case.id, number)),
                    "leaf_index": appended.index,
                    "case_bytes": case_bytes,
                }
            )
        await conn.execute(insert(evidence_items), rows)
        await conn.run_sync(lambda sync: plain_table.create(sync))
        await conn.execute(
            insert(plain_table), [{"item_no": n, "text": t} for n, t in enumerate(texts, 1)]
        )
    return case.id


async def baseline_scan(haven: Haven, word: str) -> int:
    """Plain substring scan over the same plaintext, read in the same batches."""
    found, last = 0, 0
    while True:
        async with haven.db.transaction() as conn:
            query = (
                select(plain_table.c.item_no, plain_table.c.text)
                .where(plain_table.c.item_no > last)
                .order_by(plain_table.c.item_no)
                .limit(BATCH_SIZE)
            )
            rows = (await conn.execute(query)).all()
        if not rows:
            return found
        last = rows[-1][0]
        found += sum(1 for _, text in rows if word in text)


async def timed(runs: int, work: Callable[[], Awaitable[object]]) -> float:
    """The median of ``runs`` runs, in milliseconds, after one warm-up."""
    await work()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


async def main(items: int, runs: int) -> dict[str, object]:
    rng = random.Random(8)
    texts = plaintexts(items, rng)
    total_bytes = sum(len(t.encode()) for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        config_file = Path(tmp) / "bench.toml"
        config_file.write_text(CONFIG, encoding="utf-8")
        config = load_config(config_file, data_dir_override=data_dir)
        adapter = MemoryAdapter()
        haven = await Haven.open(config, {adapter.platform: adapter})
        try:
            case_id = await seed(haven, texts, rng)
            return await measure(haven, adapter, case_id, texts, total_bytes, runs)
        finally:
            await haven.close()


async def measure(
    haven: Haven,
    adapter: MemoryAdapter,
    case_id: int,
    texts: list[str],
    total_bytes: int,
    runs: int,
) -> dict[str, object]:
    tz = haven.config.tz
    searcher = Searcher(haven.db, haven.blobs, haven.keyring, haven.clock)
    keyword = parse_query("截图证据", tz)
    english = parse_query("screenshot", tz)
    combined = parse_query("截图证据 from:张三 after:2025-09-15 before:2025-10-15 kind:text", tz)
    result = await searcher.search(case_id, keyword, actor="bench")
    planted = sum(1 for t in texts if "截图证据" in t or "截圖證據" in t)
    assert result.total == planted, (result.total, planted)

    search_ms = await timed(runs, lambda: searcher.search(case_id, keyword, actor="bench"))
    staff_ms = await timed(
        runs,
        lambda: searcher.search(
            case_id, keyword, actor="staff:bench", masked=True, scope=Window(START, None)
        ),
    )
    english_ms = await timed(runs, lambda: searcher.search(case_id, english, actor="bench"))
    combined_ms = await timed(runs, lambda: searcher.search(case_id, combined, actor="bench"))
    baseline_ms = await timed(runs, lambda: baseline_scan(haven, "截图证据"))

    async def in_memory() -> int:
        return sum(1 for t in texts if "截图证据" in t)

    memory_scan_ms = await timed(runs, in_memory)

    async def victim_search() -> None:
        event = victim_event(
            adapter.platform, USER, InboundKind.COMMAND, command="search", args="截图证据"
        )
        await haven.dispatcher.handle(event)

    async def victim_timeline() -> None:
        event = victim_event(adapter.platform, USER, InboundKind.COMMAND, command="timeline")
        await haven.dispatcher.handle(event)

    victim_search_ms = await timed(runs, victim_search)
    timeline_ms = await timed(runs, victim_timeline)
    timelines = Timelines(haven.playbook.texts, tz)

    async def export_rendering() -> None:
        async with haven.db.transaction() as conn:
            case = await cases.get(conn, case_id)
            assert case is not None
            built = await timelines.build(conn, case, None)
        timelines.document(case, built)
        timelines.to_json(built)

    export_timeline_ms = await timed(runs, export_rendering)

    tracemalloc.start()
    await searcher.search(case_id, keyword, actor="bench")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        "items": len(texts),
        "plaintext_mb": round(total_bytes / 2**20, 1),
        "matches": planted,
        "search_ms": search_ms,
        "staff_search_masked_windowed_ms": staff_ms,
        "english_search_ms": english_ms,
        "combined_filters_ms": combined_ms,
        "baseline_plain_scan_from_db_ms": baseline_ms,
        "ratio_search_to_baseline": round(search_ms / baseline_ms, 2),
        "plain_scan_in_memory_ms": memory_scan_ms,
        "victim_search_end_to_end_ms": victim_search_ms,
        "timeline_end_to_end_ms": timeline_ms,
        "timeline_export_render_ms": export_timeline_ms,
        "search_peak_traced_mb": round(peak / 2**20, 2),
        "peak_to_plaintext": round(peak / total_bytes, 3),
    }


def report(figures: dict[str, object]) -> None:
    print(f"case: {figures['items']} items, {figures['plaintext_mb']} MB of plaintext, "
          f"{figures['matches']} matches")  # fmt: skip
    rows = [
        ("keyword search (decrypt + match + custody)", "search_ms"),
        ("  same, staff: masked, within a window", "staff_search_masked_windowed_ms"),
        ("  same, English keyword (case-folded)", "english_search_ms"),
        ("  same, + sender, window and kind", "combined_filters_ms"),
        ("baseline: plain substring scan, read from db", "baseline_plain_scan_from_db_ms"),
        ("  plain substring scan, already in memory", "plain_scan_in_memory_ms"),
        ("victim /search end to end", "victim_search_end_to_end_ms"),
        ("victim /timeline end to end", "timeline_end_to_end_ms"),
        ("timeline as the export's text + JSON", "timeline_export_render_ms"),
    ]
    for label, key in rows:
        print(f"{label:<48}{figures[key]:>10} ms")
    print(f"{'ratio search / baseline':<48}{figures['ratio_search_to_baseline']:>10}")
    print(
        f"{'search peak traced memory':<48}{figures['search_peak_traced_mb']:>10} MB"
        f" ({figures['peak_to_plaintext']} of the plaintext)"
    )
    print(json.dumps({"bench": "search", **figures, "ratio": figures["ratio_search_to_baseline"]}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report(asyncio.run(main(args.items, args.runs)))
