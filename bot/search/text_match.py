"""Finding words in evidence text the way a person means them, not byte for byte.

Chinese has no spaces between words, so a search is a substring search. What counts as
"the same" text is ``fold``: full-width forms as half-width ones (``ＡＢＣ１２３`` is
``ABC123``, the ideographic space a space: Unicode NFKC, applied to the full-width and
half-width forms, the ideographic space and the CJK compatibility ideographs), then case
folding (``casefold``), then traditional characters as simplified ones, one character
for one character, with the character tables of OpenCC (the ``opencc`` package, the
maintained official binding).

Folding every plaintext on every search would cost more than decrypting it, so the
haystack is never folded: the needle is. Each folded needle character becomes a class of
every character that folds to it (``们`` matches ``[们們]``, ``s`` matches ``[SsＳｓ]``),
and the resulting regular expression runs over the original text, so a match's position
is a position in what the victim sent (snippets are cut from it). Characters the needle
holds are escaped: ``.*`` or ``(`` are searched for literally.

Known limits: other compatibility forms (circled or superscript letters, ``ﬁ``, ``㎏``)
match only as written; conversion is character by character, so a word whose
traditional and simplified forms differ by more than that matches only as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import opencc

# Characters whose folded form is learnt up front: Latin, Greek and Cyrillic (case),
# the ideographic space, CJK unified ideographs (with extension A), compatibility
# ideographs and the full-width and half-width forms.
_UNIVERSE = (
    (0x0020, 0x0590),
    (0x3000, 0x3001),
    (0x3400, 0xA000),
    (0xF900, 0xFB00),
    (0xFF00, 0xFFF0),
)
# Width is folded for these blocks only (NFKC on them), so that every folded needle
# character has a short class: a circled or superscript letter matches only as written.
_WIDTH_BLOCKS = ((0x3000, 0x3001), (0xF900, 0xFB00), (0xFF00, 0xFFF0))
_SPACE = re.compile(r"\s+")
# White space between the words of a phrase: ASCII, no-break, ideographic and the
# typographic spaces, spelt out so that the text and the UTF-8 patterns agree.
_GAP_CHARS = " \t\n\r\f\v\u00a0\u1680\u202f\u205f\u3000" + "".join(map(chr, range(0x2000, 0x200B)))


@cache
def _width() -> dict[int, str]:
    table = {}
    for first, stop in _WIDTH_BLOCKS:
        for code in range(first, stop):
            normal = unicodedata.normalize("NFKC", chr(code))
            if normal != chr(code):
                table[code] = normal
    return table


@cache
def _t2s() -> dict[int, str]:
    """Traditional → simplified, character by character, from OpenCC's own tables."""
    chars = [chr(code) for code in range(0x3400, 0xA000)]
    chars += [chr(code) for code in range(0xF900, 0xFB00)]
    # One character per line: OpenCC's phrase tables never join across a line break.
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    return {
        ord(source): target
        for source, target in zip(chars, converted, strict=True)
        if source != target and len(target) == 1
    }


def fold(text: str) -> str:
    """The form two texts are compared in (see the module's description)."""
    return text.translate(_width()).casefold().translate(_t2s())


@cache
def _variants() -> dict[str, frozenset[str]]:
    """For each folded character, every character of the universe that folds to it."""
    found: dict[str, set[str]] = {}
    for first, stop in _UNIVERSE:
        for code in range(first, stop):
            char = chr(code)
            folded = fold(char)
            if len(folded) == 1 and folded != char:
                found.setdefault(folded, {folded}).add(char)
    return {folded: frozenset(chars) for folded, chars in found.items()}


def _char_class(chars: Iterable[str]) -> str:
    members = sorted(chars)
    if len(members) == 1:
        return re.escape(members[0])
    return "[" + "".join(re.escape(char) for char in members) + "]"


def _byte_class(chars: Iterable[str]) -> bytes:
    """The same class over UTF-8, as alternatives that each begin with a literal byte:
    the regular expression engine then scans for the set of first bytes, several times
    faster than for a bracketed class inside an alternation."""
    encoded = [re.escape(code) for code in sorted(char.encode() for char in chars)]
    return encoded[0] if len(encoded) == 1 else b"(?:" + b"|".join(encoded) + b")"


@dataclass(frozen=True)
class Needle:
    """One search term: as typed, and the expressions that find it in original text and
    in its UTF-8 bytes (so a search need not decode what does not match)."""

    text: str
    pattern: re.Pattern[str]
    utf8: re.Pattern[bytes]

    def find(self, haystack: str) -> re.Match[str] | None:
        return self.pattern.search(haystack)

    def in_utf8(self, haystack: bytes) -> bool:
        return self.utf8.search(haystack) is not None


def needle(term: str) -> Needle:
    """The matcher of ``term``; white space in it matches any run of white space, or none.

    Raises ValueError for a term with nothing to search for.
    """
    words = _SPACE.split(fold(term).strip())
    if not any(words):
        raise ValueError("an empty search term")
    variants = _variants()
    classes = [[variants.get(char, frozenset(char)) for char in word] for word in words]
    text_gap = _char_class(_GAP_CHARS) + "*"
    byte_gap = _byte_class(_GAP_CHARS) + b"*"
    text = text_gap.join("".join(_char_class(c) for c in word) for word in classes)
    utf8 = byte_gap.join(b"".join(_byte_class(c) for c in word) for word in classes)
    return Needle(term, re.compile(text), re.compile(utf8))
