"""The case report: a PDF for a lawyer or a police officer, in the case's language.

A cover (case number, dates, severity and why), the incident timeline, the evidence with
a small picture of each image (in the report only: the originals stay in the bundle)
and each file's SHA-256, the steps taken (checklist steps done, reminders answered,
deletions noticed), and how to check the evidence bundle without Haven.

The evidence is read the way an export reads it (bot/evidence/export.py): every row is
checked against its log leaf and content first, so the report never shows a value the
log contradicts. Making one is a custody event (``report``), like an export.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.content.playbook import load_playbook
from bot.evidence.bundle import BundleItem, key_fingerprint, utc_text
from bot.evidence.case_documents import document_texts, esc, field, page, render_pdf
from bot.evidence.export import EXPORTS_DIR, read_case_evidence
from bot.evidence.keyfiles import log_verifier
from bot.evidence.store import Store
from bot.evidence.timeline import Entry, Timeline, Timelines
from storage import custody
from storage.cases import CaseRecord
from storage.leaves import CustodyEvent

log = logging.getLogger(__name__)

REPORT = "report"
PDF = "application/pdf"
THUMB_PIXELS = 360
_PICTURE_KINDS = frozenset({"photo"})
_STEP_TYPES = frozenset({"step", "reminder", "deletion"})


@dataclass(frozen=True)
class Reported:
    path: Path
    items: int


async def write_report(
    store: Store, case_id: int, out: Path, *, actor: str, reason: str
) -> Reported:
    """Write case ``case_id``'s report to ``out`` (a custody event); OperatorError (or
    EvidenceMismatch) when it cannot be made truthfully."""
    evidence = await read_case_evidence(store, case_id)
    now = store.clock.now()
    timelines = Timelines(load_playbook().texts, store.config.tz)
    async with store.db.transaction() as conn:
        event = CustodyEvent(actor=actor, action=REPORT, at=now, case_id=case_id, reason=reason)
        await custody.record(conn, event)
        timeline = await timelines.build(conn, evidence.case, evidence.key or None)
    texts = {
        item.number: item.content.decode("utf-8", errors="replace")
        for item in evidence.items
        if item.kind == "text"
    }
    document = ReportDocument(store, timelines, evidence.case, now)
    body = document.html(timeline.with_excerpts(texts), evidence.items)
    html = page(evidence.case.locale, document.title, body)
    pdf = await asyncio.to_thread(render_pdf, html)
    await asyncio.to_thread(_write_private, out, pdf)
    return Reported(out, len(evidence.items))


def default_report_path(store: Store, case_id: int) -> Path:
    """Where `/report` puts a victim's report: beside `/export`'s bundles, so the same
    handover rules delete it once the platform has it."""
    stamp = store.clock.now().strftime("%Y%m%dT%H%M%S%fZ")
    return store.config.data_dir / EXPORTS_DIR / f"case-{case_id}-{stamp}-report.pdf"


@dataclass(frozen=True)
class ReportDocument:
    store: Store
    timelines: Timelines
    case: CaseRecord
    made: datetime

    @property
    def words(self) -> dict[str, Any]:
        return document_texts()[self.case.locale]

    @property
    def title(self) -> str:
        return f"{self.words['report_title']} · {self.case.id}"

    def _t(self, key: str, **fields: object) -> str:
        return self.timelines.texts.get(self.case.locale, key, **fields)

    def html(self, timeline: Timeline, items: Sequence[BundleItem]) -> str:
        return "".join(
            [
                *self._cover(),
                *self._timeline(timeline),
                *self._evidence(items),
                *self._steps(timeline.entries),
                *self._check(),
            ]
        )

    def _cover(self) -> Iterator[str]:
        w = self.words
        yield "<div class='cover'>"
        yield f"<h1>{esc(w['report_title'])}</h1>"
        made = self.made.astimezone(self.timelines.tz).strftime("%Y-%m-%d %H:%M")
        yield f"<p class='muted'>{esc(w['report_subtitle'].format(date=made))}</p>"
        case = self.case
        reasons = w["list_separator"].join(self._t(f"reason.{r}") for r in case.reasons) or "—"
        for label, value in (
            (w["report_case"], str(case.id)),
            (w["report_opened"], utc_text(case.created_at)),
            (w["report_updated"], utc_text(case.updated_at)),
            (w["report_severity"], self._t(f"severity.{case.severity}")),
            (w["report_why"], reasons),
        ):
            yield field(label, value, w["colon"])
        yield f"<p class='muted'>{esc(w['report_not_advice'])}</p></div>"

    def _timeline(self, timeline: Timeline) -> Iterator[str]:
        w = self.words
        yield f"<h2>{esc(w['report_timeline'])}</h2>"
        note = w["report_timeline_note"].format(timezone=timeline.timezone)
        yield f"<p class='muted'>{esc(note)}</p>"
        for line in self.timelines.lines(self.case, timeline):
            yield f"<div class='entry'>{esc(line)}</div>"

    def _evidence(self, items: Sequence[BundleItem]) -> Iterator[str]:
        w = self.words
        yield f"<h2>{esc(w['report_evidence'])} ({len(items)})</h2>"
        yield f"<p class='muted'>{esc(w['report_evidence_note'])}</p>"
        for item in items:
            yield _item_block(w, item)

    def _steps(self, entries: Sequence[Entry]) -> Iterator[str]:
        w = self.words
        yield f"<h2>{esc(w['report_steps'])}</h2>"
        steps = [entry for entry in entries if entry.type in _STEP_TYPES]
        if not steps:
            yield f"<p>{esc(w['report_steps_none'])}</p>"
        for entry in steps:
            yield f"<div>{esc(self.timelines.when(entry))} · {esc(entry.text)}</div>"

    def _check(self) -> Iterator[str]:
        w = self.words
        key = self.store.log_key
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        yield f"<h2>{esc(w['report_check'])}</h2>"
        yield f"<p>{esc(w['report_check_text'])}</p>"
        yield f"<p class='label'>{esc(w['report_key'])}{esc(w['colon'])}</p>"
        yield f"<div class='mono'>{esc(log_verifier(self.store.config, key).vkey())}</div>"
        yield f"<div class='mono'>SHA-256 {key_fingerprint(raw).hex()}</div>"


def _item_block(w: dict[str, Any], item: BundleItem) -> str:
    details = item.details
    origin = details.origin if details else None
    thumb = _thumbnail(item) if item.kind in _PICTURE_KINDS else ""
    image = f"<img class='thumb' src='{thumb}'>" if thumb else ""
    kind = w.get(f"kind_{item.kind}", item.kind)
    head = f"#{item.number} · {kind} · {item.name} · {len(item.content)} B"
    digest = f"SHA-256 {item.record().sha256.hex()}"
    if not thumb:
        return f"<div class='row'>{esc(head)} · {digest}</div>"
    lines = [head]
    if origin is not None and (origin.sender_name or origin.chat_title):
        # Beside a picture there is room; the timeline names every item's sender anyway.
        sender = " · ".join(p for p in (origin.sender_name, origin.chat_title) if p)
        lines.append(f"{w['col_sender']}{w['colon']}{sender}")
    if details is not None:
        original = utc_text(details.original_date) if details.original_date else w["unknown"]
        lines.append(f"{w['col_original_time']}{w['colon']}{original}")
    lines.append(digest)
    # One block of plain lines (see extraction_record._item_blocks); the picture floats in it.
    return (
        f"<div class='row lines'>{image}{esc(chr(10).join(lines))}<div class='clear'></div></div>"
    )


def _thumbnail(item: BundleItem) -> str:
    """A small JPEG of a picture, as a data URI; "" when the bytes are no picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(item.content)) as picture:
            picture.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
            out = io.BytesIO()
            picture.convert("RGB").save(out, "JPEG", quality=70)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _write_private(out: Path, data: bytes) -> None:
    """Whole or not at all, readable by its owner only, never through a link."""
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, out)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
