"""CharFilter: str.translate with remembered verdicts gives what asking each character would."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from bot.conversation.char_filter import CharFilter
from bot.conversation.inputs import clean_text, is_shown
from bot.conversation.signal_text import to_simplified
from bot.conversation.signals import is_word_part, normalise

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)


def asked_each(text: str, keep: Callable[[str], bool]) -> str:
    return "".join(ch for ch in text if keep(ch))


@given(ANY_TEXT, st.integers(min_value=0, max_value=8))
def test_filtering_equals_asking_each_character(text: str, remember: int) -> None:
    """Also once the table is full (`remember` verdicts): later characters are asked anew."""
    table = CharFilter(is_word_part, remember=remember)
    assert text.translate(table) == asked_each(text, is_word_part)
    assert text.translate(table) == asked_each(text, is_word_part), "and again, from the table"
    assert len(table) <= remember


@given(ANY_TEXT)
def test_clean_text_drops_exactly_controls_surrogates_and_bidi_overrides(text: str) -> None:
    assert clean_text(text) == asked_each(text, is_shown).strip()


@given(ANY_TEXT)
def test_normalise_keeps_exactly_letters_numbers_and_marks_after_folding(text: str) -> None:
    folded = to_simplified(unicodedata.normalize("NFKC", text).casefold())
    assert normalise(text) == asked_each(folded, is_word_part)


def test_what_is_dropped() -> None:
    assert clean_text(" a\u202eb\x00c\n\td\ud800 ") == "abc\n\td"
    assert normalise("不 想，活 了！ I'LL ＫＩＬＬ") == "不想活了illkill"
    assert normalise("我想自殺") == "我想自杀"
