"""How much text a phone shows without scrolling, and cutting longer text to fit.

About 400 Chinese characters or 600 Latin ones fill a phone's screen; a message mixing
both is measured by its share of each (a wide character counts as one and a half).
"""

from __future__ import annotations

import unicodedata

SCREEN = 600  # in narrow-character widths: 600 Latin, or 400 Chinese characters
_WIDE = ("W", "F")


def width(text: str) -> float:
    """The text's length on a phone, in narrow-character widths."""
    return sum(1.5 if unicodedata.east_asian_width(ch) in _WIDE else 1 for ch in text)


def fits(text: str) -> bool:
    return width(text) <= SCREEN


def screenfuls(text: str) -> list[str]:
    """``text`` cut into parts that each fit a screen: between paragraphs where it can,
    else between lines, else (one very long line) between characters. Parts are filled
    from the end, so the last one (which carries a message's buttons) holds as much of
    what the buttons answer as fits."""
    if fits(text):
        return [text]
    for separator in ("\n\n", "\n"):
        pieces = text.split(separator)
        if len(pieces) > 1:
            return _packed(pieces, separator)
    return _cut(text)


def _packed(pieces: list[str], separator: str) -> list[str]:
    parts: list[str] = []
    for piece in reversed(pieces):
        if parts and fits(piece + separator + parts[0]):
            parts[0] = piece + separator + parts[0]
            continue
        parts[:0] = screenfuls(piece) if not fits(piece) else [piece]
    return parts


def _cut(text: str) -> list[str]:
    parts = [""]
    for ch in text:
        if not fits(parts[-1] + ch):
            parts.append("")
        parts[-1] += ch
    return parts
