"""Splitting long texts into the pieces a platform accepts, at the most natural boundary.

Platforms count message length in UTF-16 code units (an emoji outside the basic plane
counts twice), so that is what is measured here. A piece ends at a paragraph break if one
fits, else at a line break, else after a space or a Chinese full stop (Chinese has no
spaces between words); only a single word longer than the limit is cut inside, and never
between the two halves of a surrogate pair.
"""

from __future__ import annotations

_BOUNDARIES = ("\n\n", "\n", " ", "。", "！", "？")


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` UTF-16 units whose concatenation, modulo the whitespace
    at the cuts, is `text`. An empty text is one empty piece."""
    pieces: list[str] = []
    rest = text
    while utf16_length(rest) > limit:
        head = _prefix_within(rest, limit)
        cut = _last_boundary(head)
        piece, rest = (head[:cut], rest[cut:]) if cut > 0 else (head, rest[len(head) :])
        if piece.strip():
            pieces.append(piece.rstrip())
        rest = rest.lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _prefix_within(text: str, limit: int) -> str:
    """The longest prefix of whole code points that fits in `limit` UTF-16 units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def _last_boundary(head: str) -> int:
    """Where to cut `head`: just after its last boundary of the most natural kind."""
    for boundary in _BOUNDARIES:
        at = head.rfind(boundary)
        if at > 0:
            return at + len(boundary)
    return 0
