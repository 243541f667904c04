"""Evidence search: matching, the query syntax, the victim's /search, and the rules a staff
search relies on (the window in the query, masking, custody, erased cases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from adapters.memory import MemoryAdapter
from bot.events import ForwardOrigin, OriginKind
from bot.runtime import Haven
from bot.search.query import Query, QueryError, parse_query
from bot.search.searcher import ERASED, NO_EVIDENCE, Searcher, SearchRefused
from bot.search.text_match import fold, needle
from storage import custody
from storage.evidence_search import Window
from storage.schema import evidence_items
from tests.conftest import Victim
from tests.evidence.test_evidence import attachment, forward, send_file

TZ = ZoneInfo("Asia/Shanghai")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def origin(name: str, when: datetime | None = None) -> ForwardOrigin:
    return ForwardOrigin(kind=OriginKind.USER, sender_name=name, original_date=when)


# ---- matching ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("截图", "他在群里发了截图"),
        ("们", "我們在公司"),  # simplified needle, traditional text
        ("公司羣組", "发到公司群组里了"),  # traditional needle, simplified text
        ("abc", "ＡＢＣ１２３"),  # full-width text
        ("ＡＢＣ", "abc"),  # full-width needle
        ("Screenshot", "SCREENSHOT of the chat"),
        ("saw it", "I saw　it"),  # ideographic space
        ("a.*(", "look: A.*( here"),  # metacharacters are literal
        ("[x]", "array[x] = 1"),
    ],
)
def test_a_term_matches_across_width_case_and_script(term: str, text: str) -> None:
    assert needle(term).find(text) is not None


@pytest.mark.parametrize(
    ("term", "text"),
    [("a.*(", "abc("), ("截图", "截 图片"), ("[x]", "x"), ("张三", "李四")],
)
def test_a_term_does_not_match_what_it_does_not_say(term: str, text: str) -> None:
    assert needle(term).find(text) is None


def test_fold_is_width_case_and_simplified() -> None:
    assert fold("ＡＢＣ臺灣們") == "abc台湾们"


def test_a_blank_term_is_refused() -> None:
    with pytest.raises(ValueError):
        needle("   ")


# ---- the query syntax -------------------------------------------------------------------


def test_words_and_filters_combine() -> None:
    query = parse_query("截图 from:张三 after:2025-11-01 before:2025/11/15 kind:image", TZ)
    assert query.terms == ("截图",)
    assert query.sender == "张三"
    assert query.window == Window(utc(2025, 10, 31, 16), utc(2025, 11, 14, 16))
    assert query.kinds == {"photo"}


def test_chinese_filter_names_full_width_colons_and_quotes() -> None:
    query = parse_query("“公司 群” 来自：李四 当天:2025年11月3日 类型:文字,语音", TZ)
    assert query.terms == ("公司 群",)
    assert query.sender == "李四"
    assert query.window == Window(utc(2025, 11, 2, 16), utc(2025, 11, 3, 16))
    assert query.kinds == {"text", "voice", "audio"}


def test_words_with_colons_that_are_not_filters_stay_words() -> None:
    query = parse_query("15:30 https://example.org/x", TZ)
    assert query.terms == ("15:30", "https://example.org/x")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x" * 201, "search.too_long"),
        ("after:yesterday", "search.bad_date"),
        ("after:2025-02-30", "search.bad_date"),
        ("kind:hologram", "search.bad_kind"),
        ("after:2025-11-05 before:2025-11-01", "search.reversed"),
        ("on:2025-11-05 after:2025-11-07", "search.reversed"),
        ("from:", "search.empty_filter"),
        ("a b c d e f g h i", "search.too_many_words"),
    ],
)
def test_bad_queries_say_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(text, TZ)
    assert caught.value.problem == problem


def test_an_empty_query_is_empty() -> None:
    assert parse_query("   ", TZ).is_empty


# ---- the victim's /search ---------------------------------------------------------------


async def three_forwards(victim: Victim) -> None:
    await forward(victim, "他把截图发到了公司群 at 15:30", origin("张三", utc(2025, 11, 3, 7, 30)))
    await forward(victim, "Delete the screenshots or else", origin("Li Si", utc(2025, 11, 1, 2)))
    await forward(victim, "我們已經看到那些截圖了", origin("王五", utc(2025, 11, 5, 12)))


async def search(victim: Victim, args: str) -> str:
    replies = await victim.command("search", args)
    return "\n".join(reply.text for reply in replies)


async def test_search_finds_chinese_and_english_by_keyword(victim: Victim) -> None:
    await three_forwards(victim)
    answer = await search(victim, "截图")
    assert "#1" in answer and "#3" in answer and "#2" not in answer  # 截圖 is 截图
    answer = await search(victim, "SCREENSHOTS")
    assert "#2" in answer and "#1" not in answer


async def test_search_by_sender_dates_and_combined(victim: Victim) -> None:
    await three_forwards(victim)
    assert "#2" in await search(victim, "from:li")
    by_date = await search(victim, "after:2025-11-02 before:2025-11-04")
    assert "#1" in by_date and "#2" not in by_date and "#3" not in by_date
    combined = await search(victim, "截图 after:2025-11-04")
    assert "#3" in combined and "#1" not in combined
    assert "没有找到" in await search(victim, "截图 from:li")


async def test_search_by_kind_says_pictures_were_not_searched(victim: Victim) -> None:
    await three_forwards(victim)
    await send_file(victim, attachment(b"\x89PNG fake", name="群聊截图.png"))
    await send_file(victim, attachment(b"\x89PNG other", name="receipt.png"))
    answer = await search(victim, "截图 kind:image")
    assert "#4" in answer and "#5" not in answer
    assert "2张图片没有搜索" in answer
    assert "#1" not in answer


async def test_bad_searches_get_clear_answers_and_nothing_breaks(victim: Victim) -> None:
    await three_forwards(victim)
    assert "after:" in await search(victim, "")
    assert "年-月-日" in await search(victim, "after:tomorrow")
    assert "写反" in await search(victim, "after:2025-11-05 before:2025-11-01")
    assert "没有找到" in await search(victim, ".*")
    assert "最多" in await search(victim, "字" * 500)
    assert "#1" in await search(victim, "截图")  # still working


async def test_each_search_is_a_custody_event_without_its_words(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    await three_forwards(victim)
    await search(victim, "13812345678 from:张三")
    async with haven[0].db.transaction() as conn:
        events = [row.event for row in await custody.for_case(conn, 1)]
    searches = [event for event in events if event.action == "search"]
    assert len(searches) == 1
    assert searches[0].actor == "victim"
    for part in ("13812345678", "****", "张三", "张"):
        assert part not in searches[0].reason
    assert searches[0].reason.startswith("1 word(s), a sender, query ")
    assert searches[0].reason.endswith("-> 0 result(s)")


# ---- the core, as a staff search uses it -----------------------------------------------


def searcher(haven: Haven, batch_size: int = 2) -> Searcher:
    return Searcher(haven.db, haven.blobs, haven.keyring, haven.clock, batch_size=batch_size)


async def corrupt(haven: Haven, item_no: int) -> None:
    async with haven.db.transaction() as conn:
        await conn.execute(
            update(evidence_items)
            .where(evidence_items.c.item_no == item_no)
            .values(sealed=b"\x01" + b"\x00" * 40)
        )


async def test_the_window_is_in_the_query_items_outside_are_never_decrypted(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    await three_forwards(victim)
    await corrupt(haven[0], 2)  # item 2 (1 Nov) lies outside the window below
    core = searcher(haven[0])
    scope = Window(utc(2025, 11, 2), utc(2025, 11, 6))
    inside = await core.search(1, Query(terms=("截",)), actor="staff:a", scope=scope)
    assert (inside.total, inside.unreadable, inside.examined) == (2, 0, 2)
    assert [hit.item_no for hit in inside.hits] == [1, 3]
    # The same search without the window does reach item 2, and cannot open it.
    everything = await core.search(1, Query(terms=("截",)), actor="staff:a")
    assert (everything.unreadable, everything.examined) == (1, 3)


async def test_a_query_reaching_outside_the_approved_window_is_refused(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    await three_forwards(victim)
    core = searcher(haven[0])
    scope = Window(utc(2025, 11, 2), utc(2025, 11, 6))
    for asked in (
        Window(utc(2025, 10, 1), utc(2025, 11, 4)),
        Window(utc(2025, 11, 3), None),
        Window(None, utc(2025, 11, 4)),
    ):
        with pytest.raises(SearchRefused) as caught:
            await core.search(1, Query(window=asked), actor="staff:a", scope=scope)
        assert caught.value.problem == "search.outside_window"
    async with haven[0].db.transaction() as conn:
        events = [row.event for row in await custody.for_case(conn, 1)]
    refusals = [e for e in events if e.reason.endswith("-> refused: outside the approved window")]
    assert len(refusals) == 3 and {e.actor for e in refusals} == {"staff:a"}
    narrowed = await core.search(
        1, Query(window=Window(utc(2025, 11, 3), utc(2025, 11, 4))), actor="staff:a", scope=scope
    )
    assert [hit.item_no for hit in narrowed.hits] == [1]
    opened = await core.search(1, Query(), actor="staff:a", scope=scope)
    assert opened.window == scope and [hit.item_no for hit in opened.hits] == [1, 3]


async def test_staff_snippets_and_senders_are_masked(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    await forward(victim, "call me on 13812345678, Zhang Wei", origin("Zhang Wei"))
    core = searcher(haven[0])
    plain = await core.search(1, Query(terms=("call",)), actor="victim")
    assert "13812345678" in plain.hits[0].snippet and plain.hits[0].sender == "Zhang Wei"
    masked = await core.search(
        1, Query(terms=("call",)), actor="staff:a", masked=True, names=("Zhang Wei",)
    )
    hit = masked.hits[0]
    assert "13812345678" not in hit.snippet and "138****5678" in hit.snippet
    assert "Zhang Wei" not in hit.snippet and "Zhang Wei" not in hit.sender


async def test_batches_cover_every_item_and_results_are_capped(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    for n in range(7):
        await forward(victim, f"message {n} 截图", origin("张三", utc(2025, 11, 1) + timedelta(n)))
    core = searcher(haven[0], batch_size=3)
    result = await core.search(1, Query(terms=("截图",)), actor="victim", max_hits=4)
    assert result.total == 7 and [hit.item_no for hit in result.hits] == [1, 2, 3, 4]


async def test_an_erased_case_finds_nothing_and_says_why(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    await three_forwards(victim)
    await victim.command("erase")
    await victim.raw_press("erase:yes:1")
    result = await searcher(haven[0]).search(1, Query(terms=("截图",)), actor="staff:a")
    assert (result.status, result.total, result.hits) == (ERASED, 0, ())
    async with haven[0].db.transaction() as conn:
        events = [row.event for row in await custody.for_case(conn, 1)]
    assert events[-1].action == "search" and events[-1].reason.endswith("-> erased")


async def test_a_case_without_evidence_says_so(
    haven: tuple[Haven, MemoryAdapter], victim: Victim
) -> None:
    await victim.command("start")
    result = await searcher(haven[0]).search(1, Query(terms=("x",)), actor="victim")
    assert result.status == NO_EVIDENCE
    assert "还没有可以搜索的证据" in await search(victim, "x")
