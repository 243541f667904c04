"""Keeping or dropping characters by their Unicode class, at the speed of str.translate.

Asking ``unicodedata.category`` of every character in Python costs about 0.15 ms per
thousand characters, paid for every message and every forwarded text, and for a long
Slack message several milliseconds of the event loop. A ``CharFilter`` asks once per code
point and remembers the verdict in a ``str.translate`` table, so text made of characters
seen before is filtered in C.
"""

from __future__ import annotations

from collections.abc import Callable

# Verdicts remembered at most: more than the characters real chats use (everyday Chinese
# needs a few thousand), while a flood of rare code points grows a table to at most
# about 1.5 MB.
REMEMBERED = 16_384


class CharFilter(dict[int, int | None]):
    """A translate table: a character maps to itself if `keep` says so, else to None
    (deleted). Use as ``text.translate(the_filter)``."""

    def __init__(self, keep: Callable[[str], bool], remember: int = REMEMBERED) -> None:
        super().__init__()
        self._keep = keep
        self._remember = remember

    def __missing__(self, code: int) -> int | None:
        verdict = code if self._keep(chr(code)) else None
        if len(self) < self._remember:
            self[code] = verdict
        return verdict
