"""Danger signals in free text: threats, extortion, self-harm — in any language, any step."""

from __future__ import annotations

import unicodedata

from bot.content import Signal


def normalise(text: str) -> str:
    """Fold width, case, spacing and punctuation so "不 想 活 了" and "不想活了" look alike."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LNM")


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
