"""Danger signals in free text: threats, extortion, self-harm — in any language, any step."""

from __future__ import annotations

import unicodedata

from bot.content.playbook import Signal
from bot.conversation.char_filter import CharFilter


def is_word_part(ch: str) -> bool:
    """Letters, numbers and marks: what is left of a text once spacing and punctuation go."""
    return unicodedata.category(ch)[0] in "LNM"


_WORD_PARTS = CharFilter(is_word_part)


def normalise(text: str) -> str:
    """Fold width, case, spacing and punctuation so "不 想 活 了" and "不想活了" look alike."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_WORD_PARTS)


class SignalDetector:
    def __init__(self, signals: tuple[Signal, ...]) -> None:
        self._signals = tuple(
            (signal, tuple(normalise(phrase) for phrase in signal.phrases)) for signal in signals
        )

    def detect(self, text: str) -> tuple[Signal, ...]:
        folded = normalise(text)
        if not folded:
            return ()
        return tuple(
            signal for signal, phrases in self._signals if any(p and p in folded for p in phrases)
        )
