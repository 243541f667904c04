"""The extraction record in every bundle: what was kept, from where, how, with its hashes.

Shaped after the extraction record of the criminal electronic-data provisions (SPC/SPP/MPS
2016; see ../shared/legal-reference.md): per item its number, kind, original sender and
time, where it came from (platform, chat, forward origin), when Haven received it, file
name, size, SHA-256 and how it was obtained (adapter, platform API, Haven version); then
the bundle's hash (of SHA256SUMS), the signed checkpoint and the timestamps' time and
authority, and blank fields for whoever draws up their own record from it. It says that
Haven is not a forensic extraction. Written in the case's language, as CSV (UTF-8 with a
byte-order mark, so spreadsheet programs read the Chinese) and as PDF.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bot.evidence.bundle import Bundle, BundleItem, utc_text
from bot.evidence.case_documents import document_texts, esc, field, page, render_pdf
from bot.evidence.tsa import TokenError, read_token

UNKNOWN_VERSION = "development"


def haven_version() -> str:
    try:
        return metadata.version("haven")
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


@dataclass(frozen=True)
class RecordMaker:
    """Makes a bundle's record; knows what the bundle does not: the platform it came in
    by (the case's adapter) and this Haven's version."""

    platform: str
    version: str

    def __call__(self, bundle: Bundle, sums_hash: bytes) -> tuple[bytes, bytes]:
        words = document_texts()[bundle.locale]
        rows = [self._row(words, item) for item in bundle.items]
        return _csv(words, bundle, rows, sums_hash), _pdf(words, bundle, rows, sums_hash)

    def _row(self, words: dict[str, Any], item: BundleItem) -> list[str]:
        details = item.details
        origin = details.origin if details else None
        unknown = words["unknown"]
        platform = words.get(f"platform_{self.platform}", self.platform)
        api = words.get(f"api_{self.platform}", self.platform)
        if origin is None:
            sender, source = words["not_forwarded"], platform
        else:
            sender = " ".join(p for p in (origin.sender_name, origin.author_signature) if p)
            named = origin.sender_name or origin.chat_title or origin.kind
            source = words["source_format"].format(
                platform=platform,
                chat=origin.chat_title or unknown,
                origin=" ".join(p for p in (named, origin.permalink) if p) or unknown,
            )
        original = details.original_date if details else None
        return [
            str(item.number),
            words.get(f"kind_{item.kind}", item.kind),
            sender or unknown,
            utc_text(original) if original else unknown,
            source,
            utc_text(details.received_at) if details else unknown,
            item.name,
            str(len(item.content)),
            hashlib.sha256(item.content).hexdigest(),
            words["obtained_format"].format(adapter=platform, api=api, version=self.version),
        ]


_COLUMNS = (
    "col_number",
    "col_kind",
    "col_sender",
    "col_original_time",
    "col_source",
    "col_received",
    "col_file",
    "col_size",
    "col_sha256",
    "col_obtained",
)


def _timestamps(words: dict[str, Any], bundle: Bundle) -> list[str]:
    lines = []
    for stamp in bundle.timestamps:
        try:
            facts = read_token(stamp.token)
        except TokenError:
            continue
        lines.append(
            words["record_timestamp_line"].format(
                time=utc_text(facts.time).removesuffix("Z"), authority=facts.authority
            )
        )
    return lines or [words["record_no_timestamp"]]


def _heading(words: dict[str, Any], bundle: Bundle) -> list[tuple[str, str]]:
    return [
        (words["record_case"], bundle.case_id),
        (words["record_exported"], utc_text(bundle.exported_at)),
        (words["record_exported_by"], bundle.exported_by),
        (words["record_reason"], bundle.reason),
    ]


def _csv(
    words: dict[str, Any], bundle: Bundle, rows: Sequence[list[str]], sums_hash: bytes
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([words["record_title"]])
    writer.writerow([words["record_disclaimer"]])
    writer.writerows(_heading(words, bundle))
    writer.writerow([])
    writer.writerow([words[key] for key in _COLUMNS])
    writer.writerows(rows)
    writer.writerow([])
    writer.writerow([words["record_bundle_hash"], sums_hash.hex()])
    writer.writerow([words["record_checkpoint"], bundle.checkpoint.strip()])
    for line in _timestamps(words, bundle):
        writer.writerow([words["record_timestamp"], line])
    return out.getvalue().encode("utf-8-sig")


def _pdf(
    words: dict[str, Any], bundle: Bundle, rows: Sequence[list[str]], sums_hash: bytes
) -> bytes:
    return render_pdf(
        page(bundle.locale, words["record_title"], _body(words, bundle, rows, sums_hash))
    )


def _body(
    words: dict[str, Any], bundle: Bundle, rows: Sequence[list[str]], sums_hash: bytes
) -> str:
    parts = [
        f"<h1>{esc(words['record_title'])}</h1>",
        f"<p>{esc(words['record_intro'].format(case_id=bundle.case_id))}</p>",
        f"<p class='box'>{esc(words['record_disclaimer'])}</p>",
        *(field(label, value, words["colon"]) for label, value in _heading(words, bundle)),
        *(field(words["col_obtained"], how, words["colon"]) for how in _shared_method(rows)),
        f"<h2>{esc(words['record_items'])} ({len(rows)})</h2>",
        *_item_blocks(words, rows, shared=bool(_shared_method(rows))),
        f"<h2>{esc(words['record_bundle_hash'])}</h2>",
        f"<div class='mono'>{sums_hash.hex()}</div>",
        f"<h2>{esc(words['record_checkpoint'])}</h2>",
        f"<pre>{esc(bundle.checkpoint)}</pre>",
        f"<h2>{esc(words['record_timestamp'])}</h2>",
        *(f"<p>{esc(line)}</p>" for line in _timestamps(words, bundle)),
        f"<h2>{esc(words['record_fill_in'])}</h2>",
        *(field(name, "_" * 40, words["colon"]) for name in words["record_fill_fields"]),
    ]
    return "".join(parts)


def _shared_method(rows: Sequence[list[str]]) -> list[str]:
    """How every item was obtained, when it is the same for all (one adapter, one Haven):
    the PDF then says it once, above the items, not on each of a thousand."""
    methods = {row[9] for row in rows}
    return list(methods) if len(methods) == 1 else []


def _item_blocks(
    words: dict[str, Any], rows: Sequence[list[str]], *, shared: bool
) -> Iterator[str]:
    """One block of plain lines per item: WeasyPrint lays a box out at a cost, and a
    thousand items in nested boxes take twice as long as in one box each."""
    labels = [words[key] for key in _COLUMNS]
    colon = words["colon"]
    for row in rows:
        number, kind, sender, original, source, received, name, size, digest, how = row
        lines = [
            f"#{number} · {kind} · {name} · {size} B · SHA-256 {digest}",
            f"{labels[2]}{colon}{sender} · {labels[3]}{colon}{original} · "
            f"{labels[5]}{colon}{received}",
            f"{labels[4]}{colon}{source}",
        ]
        if not shared:
            lines.append(f"{labels[9]}{colon}{how}")
        yield f"<div class='row lines'>{esc(chr(10).join(lines))}</div>"
