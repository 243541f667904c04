"""Danger signals in free text: self-harm, threats, extortion, minors — any language, any step.

Two layers read each message. The curated phrases of content/signals.toml come first: a
phrase hit is a clear signal, unless a negation stands right before it ("我没有自杀的想法",
"I'm not suicidal"). Then the classifier (signal_model.py) gives each
signal one of three zones: clear, uncertain (Haven asks the person directly) or ordinary.
A denied phrase lowers its signal's zone by one, so "I'm not suicidal" never gets the
crisis reply on the classifier's word alone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from bot.content.playbook import Signal
from bot.conversation.char_filter import CharFilter
from bot.conversation.signal_frames import talks_about
from bot.conversation.signal_model import SignalModel, Zone
from bot.conversation.signal_text import to_simplified


def is_word_part(ch: str) -> bool:
    """Letters, numbers and marks: what is left of a text once spacing and punctuation go."""
    return unicodedata.category(ch)[0] in "LNM"


_WORD_PARTS = CharFilter(is_word_part)
# Spans (start, end) of the folded text.
_Spans: TypeAlias = tuple[tuple[int, int], ...]
# A phrase right after one of these (folded, so "don't" is "dont") is denied, not said:
# "我没有自杀的想法", "没人找我要钱", "I'm not suicidal", "nobody asked me for money". Only
# right after: "I'm not okay, I want to die" still matches. The classifier still reads a
# denied message, so a "not" that hides a crisis can still be asked about.
_NEGATIONS = (
    "不",
    "没有想过",
    "没想过",
    "没有想",
    "没想",
    "没有人",
    "没人",
    "没有",
    "从没",
    "从来没",
    "并没",
    "not",
    "never",
    "noone",
    "nobody",
    "dont",
    "didnt",
    "doesnt",
    "hasnt",
    "havent",
    "isnt",
    "wasnt",
)
# Words that may stand between a negation and the phrase: "no one has asked me for
# money", "I'm not really suicidal", "he has never even threatened to kill me", "I'm not
# going to hurt myself", "我不会做傻事", "放心，我不会再伤害自己". Never "to" alone:
# "I'm trying not to kill myself" says the phrase.
_FILLERS = (
    "has", "have", "had", "is", "was", "ever", "even", "been", "really", "actually",
    "goingto", "gonna", "tryingto", "planningto",
    "会", "再", "要", "打算", "准备", "敢",
)  # fmt: skip


def normalise(text: str) -> str:
    """Fold width, case, script, spacing and punctuation so "不 想 活 了", "不想活了" and
    "不想活了" in traditional characters look alike."""
    folded = to_simplified(unicodedata.normalize("NFKC", text).casefold())
    return folded.translate(_WORD_PARTS)


def _said(text: str, folded: str, phrase: str, idioms: _Spans = ()) -> bool | None:
    """Whether the phrase occurs in the folded text other than right after a negation:
    True when it does, False when it occurs only denied, None when it does not occur.
    An occurrence inside one of the signal's idioms (``idioms``: spans of the folded
    text) is not one: "笑不活了" holds "不活了" and means laughing hard."""
    found = None
    for start in _occurrences(folded, phrase):
        end = start + len(phrase)
        if any(left <= start and end <= right for left, right in idioms):
            continue
        if not _denied(text, folded[:start], phrase):
            return True
        found = False
    return found


def _idiom_spans(text: str, folded: str, idioms: tuple[str, ...]) -> _Spans:
    """Where the idioms stand in the folded text. One cut by a pause is no idiom: "我想
    死，你了解吗" is not "我想死你了" (I miss you so much)."""
    spans = [
        (start, start + len(idiom)) for idiom in idioms for start in _occurrences(folded, idiom)
    ]
    if not spans:
        return ()
    pauses = _pauses(text)
    return tuple((left, right) for left, right in spans if not pauses & set(range(left + 1, right)))


def _occurrences(folded: str, part: str) -> list[int]:
    found = []
    start = folded.find(part)
    while start >= 0:
        found.append(start)
        start = folded.find(part, start + 1)
    return found


def _denied(text: str, before: str, phrase: str) -> bool:
    end = len(before)
    cue = _cue(before)
    for _ in range(2):
        filler = next((f for f in _FILLERS if before.endswith(f)), "")
        if cue is not None or not filler:
            break
        before = before[: -len(filler)]
        cue = _cue(before)
    if cue is None:
        return False
    # A-not-A asks, it does not deny: "有没有人勒索你", "想不想死".
    ahead = before[: -len(cue)]
    no_have = cue.startswith("没") and ahead.endswith("有") and not ahead.endswith("没有")
    verb_not_verb = cue == "不" and ahead.endswith(phrase[0])
    if no_have or verb_not_verb:
        return False
    # A pause between them ("我什么都没有，想死") makes the phrase a sentence of its own.
    pauses = _pauses(text)
    return not any(position in pauses for position in range(len(before), end + 1))


def _cue(before: str) -> str | None:
    return next((c for c in _NEGATIONS if before.endswith(c)), None)


_APOSTROPHE_MARKS = frozenset("'’‘ʼ`´")


@lru_cache(maxsize=4)
def _pauses(text: str) -> frozenset[int]:
    """Positions in the folded text that come right after a punctuation mark (spaces and
    apostrophes are no pause). Cached: one message asks for them once per idiom-bearing
    signal and per denied phrase, and a pasted log is thousands of characters."""
    norm = to_simplified(unicodedata.normalize("NFKC", text).casefold())
    pauses: set[int] = set()
    kept = 0
    pending = False
    for ch in norm:
        if is_word_part(ch):
            if pending:
                pauses.add(kept)
            kept += 1
            pending = False
        elif not ch.isspace() and ch not in _APOSTROPHE_MARKS:
            pending = True
    return frozenset(pauses)


_Tree: TypeAlias = dict[str, "_Tree"]


def _trie_pattern(phrases: set[str]) -> str:
    """A pattern that finds any of ``phrases``, written as their prefix tree: "不想活|不活了"
    becomes "不(?:想活|活了)". The regex engine tries the alternatives of a flat list one
    by one at every character; the tree asks each character once per branch, which made a
    long message's search several times faster. A phrase that another one starts with
    ends its branch: finding the shorter is finding one."""
    tree: _Tree = {}
    for phrase in phrases:
        node = tree
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}

    def branch(node: _Tree) -> str:
        if "" in node:
            return ""
        options = [re.escape(char) + branch(child) for char, child in sorted(node.items())]
        return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"

    return branch(tree)


@dataclass(frozen=True)
class Reading:
    """What one message says: signals clearly there, and signals worth asking about."""

    clear: tuple[Signal, ...] = ()
    uncertain: tuple[Signal, ...] = ()


class SignalDetector:
    def __init__(self, signals: tuple[Signal, ...], model: SignalModel | None = None) -> None:
        self._signals = tuple(
            (signal, tuple(normalise(phrase) for phrase in signal.phrases)) for signal in signals
        )
        self._idioms = {
            signal.id: tuple(normalise(idiom) for idiom in signal.idioms) for signal in signals
        }
        # Any phrase of any signal, in one pattern: most messages hold none, and one
        # search says so at once where a loop would look for each of some 300 phrases.
        phrases = {p for _, folded in self._signals for p in folded if p}
        self._any_phrase = re.compile(_trie_pattern(phrases)) if phrases else None
        self._model = model

    def detect(self, text: str) -> tuple[Signal, ...]:
        """The signals whose phrases the text holds."""
        return self._phrases(text)[0]

    def _phrases(self, text: str) -> tuple[tuple[Signal, ...], frozenset[Signal]]:
        """The signals whose phrases the text says, and those whose phrases it only denies."""
        folded = normalise(text)
        if not folded or self._any_phrase is None or not self._any_phrase.search(folded):
            return (), frozenset()
        said: list[Signal] = []
        denied: set[Signal] = set()
        for signal, phrases in self._signals:
            idioms = _idiom_spans(text, folded, self._idioms[signal.id])
            found = {_said(text, folded, p, idioms) for p in phrases if p}
            if True in found:
                said.append(signal)
            elif False in found:
                denied.add(signal)
        return tuple(said), frozenset(denied)

    def read(self, text: str, *, forwarded: bool = False) -> Reading:
        """Both layers. A phrase makes its signal clear, or only uncertain in a message
        about the law, a film or a game. A phrase the text denies ("I'm not suicidal")
        lowers the classifier's zone for its signal by one: the denial is evidence too,
        yet a crisis said in other words beside it can still be asked about. Someone else's words
        (`forwarded`) are read only for the signals marked in_forwarded, and only when
        clear: Haven does not ask the person about what another person may have meant."""
        hits, denied = self._phrases(text)
        # Someone else's words count only when clear, and reading them sentence by
        # sentence can only make them uncertain: not worth reading a forwarded log twice.
        zones: dict[str, Zone] = {}
        if self._model is not None and text.strip():
            zones = self._model.zones(text, by_sentence=not forwarded, crisis=bool(hits))
        # A phrase in a message about the law, a film or a game is asked about, not
        # answered as a crisis, unless the classifier finds the words clear by themselves
        # (signal_frames.py). Someone else's words are read only when clear: not here.
        phrase_zone = Zone.UNCERTAIN if hits and not forwarded and talks_about(text) else Zone.CLEAR
        clear: list[Signal] = []
        uncertain: list[Signal] = []
        for signal, _ in self._signals:
            if forwarded and not signal.in_forwarded:
                continue
            zone = zones.get(signal.id, Zone.ORDINARY)
            if signal in hits and zone is not Zone.CLEAR:
                zone = phrase_zone
            if signal in denied:
                zone = _LOWER[zone]
            if zone is Zone.CLEAR:
                clear.append(signal)
            elif zone is Zone.UNCERTAIN and not forwarded:
                uncertain.append(signal)
        return Reading(tuple(clear), tuple(uncertain))


_LOWER = {Zone.CLEAR: Zone.UNCERTAIN, Zone.UNCERTAIN: Zone.ORDINARY, Zone.ORDINARY: Zone.ORDINARY}
