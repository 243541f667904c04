"""The labelled corpus of danger signals: big enough, both languages, splits that never mix.

The test split is what bench/signals.py measures the detector on; a message that also
sits in the training split, even with other spacing, case or script, would make those
figures a memory test.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bot.conversation.signal_corpus import CLASSES, SPLITS, Example, format_line, load_split
from bot.conversation.signal_text import fold
from bot.conversation.signals import normalise


@pytest.fixture(scope="module")
def splits() -> dict[str, tuple[Example, ...]]:
    return {name: load_split(name) for name in SPLITS}


def test_the_corpus_is_big_enough_and_mostly_for_training(
    splits: dict[str, tuple[Example, ...]],
) -> None:
    sizes = {name: len(examples) for name, examples in splits.items()}
    assert sum(sizes.values()) >= 2000, sizes
    assert sizes["train"] > sizes["validation"] + sizes["test"], sizes


def test_no_message_is_in_two_splits_even_after_folding(
    splits: dict[str, tuple[Example, ...]],
) -> None:
    seen: dict[str, str] = {}
    for name, examples in splits.items():
        for example in examples:
            # emoji alone fold to nothing under the phrase rules: those compare as folded
            words = normalise(example.text)
            for key in {f"fold:{fold(example.text)}", f"words:{words}" if words else ""} - {""}:
                assert seen.setdefault(key, name) == name, (example.text, seen[key], name)


def test_no_message_appears_twice_in_one_split(splits: dict[str, tuple[Example, ...]]) -> None:
    for name, examples in splits.items():
        repeated = [t for t, n in Counter(fold(e.text) for e in examples).items() if n > 1]
        assert not repeated, (name, repeated[:5])


@pytest.mark.parametrize("split", SPLITS)
def test_every_class_has_both_languages_in_every_split(
    splits: dict[str, tuple[Example, ...]], split: str
) -> None:
    languages: dict[str, set[str]] = {name: set() for name in (*CLASSES, "ordinary")}
    for example in splits[split]:
        for name in example.labels or {"ordinary"}:
            languages[name].add("zh" if example.language.startswith("zh") else "en")
    assert all(found == {"zh", "en"} for found in languages.values()), languages


def test_traditional_characters_and_several_labels_are_represented(
    splits: dict[str, tuple[Example, ...]],
) -> None:
    everything = [e for examples in splits.values() for e in examples]
    assert sum(e.language == "zh-Hant" for e in everything) >= 50
    assert sum(len(e.labels) > 1 for e in everything) >= 20


def test_a_line_reads_back_as_it_was_written(splits: dict[str, tuple[Example, ...]]) -> None:
    for example in splits["validation"][:50]:
        labels, language, text = format_line(example).split("\t")
        assert text == example.text and language == example.language
        assert set(labels.split(",")) == (set(example.labels) or {"ordinary"})
