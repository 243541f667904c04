"""How much text a phone shows without scrolling, and cutting longer text to fit.

About 400 Chinese characters or 600 Latin ones fill a phone's screen; a message mixing
both is measured by its share of each (a wide character counts as one and a half).
"""

from __future__ import annotations

import functools
import re
import unicodedata

SCREEN = 600  # in narrow-character widths: 600 Latin, or 400 Chinese characters
_WIDE = ("W", "F")
_ASCII = re.compile(r"[\x00-\x7f]+")
# Where a sentence ends: Chinese end punctuation, or Latin punctuation and spaces before
# a capital or an opening quote (so the "art. 14." of a citation is no end).
_SENTENCE_END = re.compile(r"[。！？；]\s*|[.!?;]\s+(?=[A-Z\"“‘(])")


def width(text: str) -> float:
    """The text's length on a phone, in narrow-character widths."""
    # ASCII is all narrow: only the other characters need weighing.
    wide = sum(1 for ch in _ASCII.sub("", text) if unicodedata.east_asian_width(ch) in _WIDE)
    return len(text) + wide / 2


def _char_width(ch: str) -> float:
    return 1.5 if unicodedata.east_asian_width(ch) in _WIDE else 1


def fits(text: str) -> bool:
    # Every character is one or one and a half widths, so most texts are decided by
    # their length alone, without weighing each character (this runs for every reply).
    if len(text) > SCREEN:
        return False
    if len(text) * 1.5 <= SCREEN or text.isascii():
        return True
    return width(text) <= SCREEN


def screenfuls(text: str) -> list[str]:
    """``text`` cut into parts that each fit a screen: between paragraphs where it can,
    else between lines, else between sentences, else between words, else (Chinese, or
    one very long word) between characters. Parts are filled from the end, so the last
    one (which carries a message's buttons) holds as much of what the buttons answer as
    fits."""
    return list(_screenfuls(text))


# The same few long texts are cut for every victim who reaches them.
@functools.lru_cache(maxsize=256)
def _screenfuls(text: str) -> tuple[str, ...]:
    if fits(text):
        return (text,)
    for separator in ("\n\n", "\n"):
        pieces = text.split(separator)
        if len(pieces) > 1:
            return _packed(pieces, separator)
    sentences = _sentences(text)
    if len(sentences) > 1:
        return tuple(part.rstrip() for part in _packed(sentences, ""))
    words = text.split(" ")
    if len(words) > 1:
        return _packed(words, " ")
    return tuple(_cut(text))


def _sentences(text: str) -> list[str]:
    """``text`` cut after each sentence's end, the spaces after it kept with it."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text)]
    starts = [0, *ends]
    return [text[a:b] for a, b in zip(starts, [*ends, len(text)], strict=True) if a < b]


def _packed(pieces: list[str], separator: str) -> tuple[str, ...]:
    parts: list[str] = []
    for piece in reversed(pieces):
        if parts and fits(piece + separator + parts[0]):
            parts[0] = piece + separator + parts[0]
            continue
        parts[:0] = _screenfuls(piece)
    return tuple(parts)


def _cut(text: str) -> list[str]:
    # The current part's width is carried along: measuring each longer prefix again
    # made a long line cost the square of its length.
    parts = [""]
    used = 0.0
    for ch in text:
        size = _char_width(ch)
        if used + size > SCREEN:
            parts.append("")
            used = 0.0
        parts[-1] += ch
        used += size
    return parts
