"""Checking a bundle's timeline against its log entries.

The timeline is the victim's account put in order (bot/evidence/timeline.py). Its
evidence lines must say what the log says: each rests on an item of the bundle, stands
at the time the item's log entry gives (the original date when it has one, else the time
received, and says which), and names the sender the salted origin commitment vouches for.
timeline.txt must be the same entries as timeline.json, in the same order. In a version
2 bundle both files are also under the manifest's signature (SHA256SUMS).

Whatever the file holds — a wrong type, 200,000 levels of nesting — is a finding, never
an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from bot.evidence.bundle import TIMELINE_JSON, TIMELINE_TEXT, ItemRecord
from bot.evidence.safezip import MiB, SafeZip

Find = Callable[[str, str, str], None]

_MAX_TIMELINE_BYTES = 32 * MiB
_LISTED = 5
_ENTRY_KEYS = {"at": str, "time_basis": str, "type": str, "text": str, "local": str}


def check_timeline(
    archive: SafeZip,
    items: Mapping[int, ItemRecord],
    leaves: Mapping[int, Mapping[str, object]],
    find: Find,
) -> None:
    entries = _entries(archive, find)
    if entries is None:
        return
    cited = _cited(entries)
    unknown = sorted(cited - items.keys())
    if unknown:
        listed = ", ".join(str(n) for n in unknown[:_LISTED])
        find("inconsistent", "timeline", f"{TIMELINE_JSON} rests on items not here: {listed}")
    for position, entry in enumerate(entries, start=1):
        item = entry["rests_on"].get("item")
        if entry["type"] == "evidence" and isinstance(item, int) and item in items:
            problem = _against_leaf(entry, items[item], leaves.get(item, {}))
            if problem:
                find("inconsistent", "timeline", f"entry {position} (#{item}): {problem}")
    _text_matches(archive, entries, find)


def _entries(archive: SafeZip, find: Find) -> list[dict[str, Any]] | None:
    try:
        value = json.loads(archive.read(TIMELINE_JSON, _MAX_TIMELINE_BYTES))
    except (ValueError, RecursionError) as exc:
        find("format", "timeline", f"{TIMELINE_JSON} is not JSON ({type(exc).__name__})")
        return None
    entries = value.get("entries") if isinstance(value, dict) else None
    if not isinstance(entries, list) or not all(_well_formed(entry) for entry in entries):
        find("format", "timeline", f"{TIMELINE_JSON} is not a list of timeline entries")
        return None
    return entries


def _well_formed(entry: object) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("rests_on"), dict):
        return False
    items = entry["rests_on"].get("items", [])
    if not isinstance(items, list):
        return False
    return all(isinstance(entry.get(key), kind) for key, kind in _ENTRY_KEYS.items())


def _cited(entries: list[dict[str, Any]]) -> set[int]:
    cited: set[int] = set()
    for entry in entries:
        rests_on = entry["rests_on"]
        for value in [rests_on.get("item"), *rests_on.get("items", [])]:
            if isinstance(value, int) and not isinstance(value, bool):
                cited.add(value)
    return cited


def _against_leaf(entry: Mapping[str, Any], record: ItemRecord, leaf: Mapping[str, object]) -> str:
    original = leaf.get("original_date")
    basis = "original" if original else "received"
    logged = original if original else leaf.get("received_at")
    if entry["time_basis"] != basis or entry["at"] != logged:
        return f"its time is not the log's ({basis}, {logged})"
    origin = record.details.origin if record.details else None
    named = origin.sender_name if origin and not leaf.get("edit_of") else ""
    if named and named not in entry["text"]:
        return "it names another sender than the log's"
    return ""


def _text_matches(archive: SafeZip, entries: list[dict[str, Any]], find: Find) -> None:
    """Each entry has its line in timeline.txt, in order: its local time first, its text
    last (a mark of how sure the time is may stand between)."""
    text = archive.read(TIMELINE_TEXT, _MAX_TIMELINE_BYTES).decode("utf-8", errors="replace")
    lines = iter(text.splitlines())
    for position, entry in enumerate(entries, start=1):
        ending = f" · {entry['text']}"
        if not any(line.startswith(entry["local"]) and line.endswith(ending) for line in lines):
            find(
                "inconsistent",
                "timeline",
                f"{TIMELINE_TEXT} differs from {TIMELINE_JSON} at entry {position}",
            )
            return
