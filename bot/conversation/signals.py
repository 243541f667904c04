"""Danger signals in free text: self-harm, threats, extortion, minors — any language, any step.

Two layers read each message. The curated phrases of content/signals.toml come first: a
phrase hit is always a clear signal. Then the classifier (signal_model.py) gives each
signal one of three zones: clear, uncertain (Haven asks the person directly) or ordinary.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.content.playbook import Signal
from bot.conversation.char_filter import CharFilter
from bot.conversation.signal_model import SignalModel, Zone
from bot.conversation.signal_text import to_simplified


def is_word_part(ch: str) -> bool:
    """Letters, numbers and marks: what is left of a text once spacing and punctuation go."""
    return unicodedata.category(ch)[0] in "LNM"


_WORD_PARTS = CharFilter(is_word_part)


def normalise(text: str) -> str:
    """Fold width, case, script, spacing and punctuation so "不 想 活 了", "不想活了" and
    "不想活了" in traditional characters look alike."""
    folded = to_simplified(unicodedata.normalize("NFKC", text).casefold())
    return folded.translate(_WORD_PARTS)


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
        self._model = model

    def detect(self, text: str) -> tuple[Signal, ...]:
        """The signals whose phrases the text holds."""
        folded = normalise(text)
        if not folded:
            return ()
        return tuple(
            signal for signal, phrases in self._signals if any(p and p in folded for p in phrases)
        )

    def read(self, text: str, *, forwarded: bool = False) -> Reading:
        """Both layers. Someone else's words (`forwarded`) are read only for the signals
        marked in_forwarded, and only when clear: Haven does not ask the person about what
        another person may have meant."""
        hits = self.detect(text)
        zones = self._model.zones(text) if self._model is not None and text.strip() else {}
        clear: list[Signal] = []
        uncertain: list[Signal] = []
        for signal, _ in self._signals:
            if forwarded and not signal.in_forwarded:
                continue
            zone = Zone.CLEAR if signal in hits else zones.get(signal.id, Zone.ORDINARY)
            if zone is Zone.CLEAR:
                clear.append(signal)
            elif zone is Zone.UNCERTAIN and not forwarded:
                uncertain.append(signal)
        return Reading(tuple(clear), tuple(uncertain))
