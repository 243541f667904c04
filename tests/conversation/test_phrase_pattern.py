"""The phrase layer's one pattern (a prefix tree of every phrase) finds a phrase exactly
where the plain list of alternatives would: same yes or no on every text."""

from __future__ import annotations

import random
import re

from bot.content.playbook import load_playbook
from bot.conversation.signals import _occurrences, _trie_pattern, normalise


def test_the_prefix_tree_finds_what_the_flat_list_finds() -> None:
    phrases = {normalise(p) for s in load_playbook().signals for p in s.phrases} - {""}
    flat = re.compile("|".join(map(re.escape, sorted(phrases))))
    tree = re.compile(_trie_pattern(phrases))
    chance = random.Random(15)
    pieces = sorted(phrases) + list("的了我他你是不a.e ?*[]")
    texts = [
        "".join(chance.choice(pieces) for _ in range(chance.randint(0, 6))) for _ in range(3000)
    ]
    # Half of them cut at a random place, so prefixes of phrases are tried too.
    texts += [text[: chance.randint(0, len(text))] for text in texts]
    found = [bool(tree.search(text)) for text in texts]
    assert found == [bool(flat.search(text)) for text in texts]
    assert 0 < sum(found) < len(texts)


def test_a_phrase_that_starts_another_ends_its_branch() -> None:
    pattern = re.compile(_trie_pattern({"不想活", "不想活了", "想死", "a.b"}))
    assert pattern.search("我不想活")
    assert pattern.search("xa.by")
    assert not pattern.search("不想")
    assert not pattern.search("axb")


def test_a_phrase_that_another_starts_with_is_found_alone() -> None:
    pattern = re.compile(_trie_pattern({"想死", "想死了", "abc", "ab"}))
    assert pattern.search("我想死")
    assert pattern.search("xaby")


def test_every_occurrence_is_found_overlapping_ones_too() -> None:
    assert _occurrences("哈哈哈，哈哈", "哈哈") == [0, 1, 4]
    assert _occurrences("nothing here", "哈哈") == []
