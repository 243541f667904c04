"""Cleaning what people type before the core looks at it."""

from __future__ import annotations

import unicodedata

from bot.conversation.char_filter import CharFilter

# Bidi embeddings, overrides and isolates can make a text display as something else.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_KEPT_CONTROLS = frozenset("\n\t")


def is_shown(ch: str) -> bool:
    """Newlines, tabs and every printable character of any script; no other control
    character, no lone surrogate, no bidi override."""
    if ch in _KEPT_CONTROLS:
        return True
    return ch not in _BIDI_CONTROLS and unicodedata.category(ch) not in ("Cc", "Cs")


_SHOWN = CharFilter(is_shown)


def clean_text(text: str) -> str:
    """Drop control and bidi-override characters; keep newlines, tabs, emoji and all scripts."""
    return text.translate(_SHOWN).strip()


def script_locale(text: str) -> str | None:
    """zh-CN or en when the letters clearly belong to one script, else None."""
    han = latin = 0
    for ch in text:
        if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
            han += 1
        elif ch.isascii() and ch.isalpha():
            latin += 1
    if han >= 2 and han * 3 >= latin:
        return "zh-CN"
    if latin >= 8 and han == 0:
        return "en"
    return None
