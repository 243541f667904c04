"""Keyed digests of free text that custody leaves commit to without holding its words.

A custody event becomes a permanent log leaf that outlives an erasure, so the words a
victim searched for, a staff note or a message staff sent must not be in it — and a
plain SHA-256 of a short text is no better: anyone can hash guesses ("her name is Li
Na") until one matches. An HMAC under the case's data key commits to the words just as
well for whoever holds the key, and once erasure destroys the key nobody can test a
guess against it any more. Each use has its own label, so a note and a search with the
same words give different digests.
"""

from __future__ import annotations

import hashlib
import hmac

QUERY_LABEL = b"haven search query\x00"
NOTE_LABEL = b"haven staff note\x00"
STAFF_WORDS_LABEL = b"haven staff message\x00"

# Shortened: 128 bits still make a collision or a forged match out of reach.
_HEX_DIGITS = 32


def keyed_digest(case_key: bytes, label: bytes, text: str) -> str:
    mac = hmac.new(case_key, label + text.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:_HEX_DIGITS]


def custody_reason(case_key: bytes, label: bytes, text: str) -> str:
    """The reason field of a custody event about ``text``: its keyed digest, named."""
    return f"hmac-sha256:{keyed_digest(case_key, label, text)}"
