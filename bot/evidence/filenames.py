"""Untrusted names: file names safe to write anywhere, and text safe to print.

A file name sent by a victim, or found in a zip someone hands us, is attacker-chosen: it
may climb directories (``../``), hide its real extension behind a right-to-left override,
carry terminal escape sequences, or be longer than a file system allows.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 120
"""Room for an ``items/NNN-`` prefix within the 255-byte name limit of common file systems."""

FALLBACK_NAME = "item"

# Categories dropped from names: controls (Cc), format characters (Cf: bidi overrides,
# zero-width joiners), surrogates (Cs), private use (Co) and unassigned code points (Cn).
# What is left is printable once every kind of white space has become a plain space.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Path separators, and what Windows refuses in a name, so an extracted bundle opens there too.
_REPLACED = frozenset('/\\:*?"<>|')
_WINDOWS_RESERVED = re.compile(r"(?i)(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?")
_SHOWN_CHARS = 200
_MAX_EXTENSION_BYTES = 16


def sanitise_filename(name: str) -> str:
    """A name with no path separators, control or bidi characters, of at most MAX_NAME_BYTES.

    Idempotent, so a reader can check a name by sanitising it again. The extension is
    kept when the name must be shortened, because it tells the reader how to open the file.
    """
    kept = "".join(_kept(char) for char in unicodedata.normalize("NFC", name))
    kept = _trim(" ".join(kept.split()))
    if _WINDOWS_RESERVED.fullmatch(kept):
        kept = "_" + kept
    return _shorten(kept) or FALLBACK_NAME


def _kept(char: str) -> str:
    if char in _REPLACED:
        return "_"
    return "" if unicodedata.category(char) in _DROPPED_CATEGORIES else char


def _trim(name: str) -> str:
    """No leading dot (hidden files, ``..``), no trailing dot or space (Windows drops them)."""
    return name.lstrip(". ").rstrip(". ")


def _shorten(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    suffix = f".{extension}" if dot and len(extension.encode()) <= _MAX_EXTENSION_BYTES else ""
    if not suffix:
        stem = name
    # Cut on a character boundary: drop the partial UTF-8 sequence the slice may leave.
    head = stem.encode()[: MAX_NAME_BYTES - len(suffix.encode())].decode(errors="ignore")
    return _trim(head) + suffix


def shown(text: str) -> str:
    """``text`` made safe for a terminal: non-printable characters escaped, length capped."""
    escaped = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return escaped if len(escaped) <= _SHOWN_CHARS else escaped[: _SHOWN_CHARS - 1] + "…"
