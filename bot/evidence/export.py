"""Export a case as an evidence bundle (bot/evidence/bundle.py) that checks without Haven.

First every item row is checked against its log leaf and its decrypted content
(storage/item_checks.py): a changed SHA-256, sender or time, a deleted row or two
swapped numbers refuse the export (:class:`EvidenceMismatch`) before anything is
recorded, since a bundle must never say what the log contradicts.

Order matters: the export's own custody event is appended first, then a tree head is
signed (as a C2SP checkpoint too), so the head covers the event and the bundle can prove
it was exported, when, by whom and why. Every item's and every custody event's inclusion
proof is built against that one head. The head is timestamped by the configured
authorities (bot/evidence/stamping.py): what they answer in time goes into the bundle;
the rest is retried later. The written bundle is then checked with the offline verifier
(:func:`bot.verify.verify_bundle`); one that does not verify is deleted and reported,
never handed over.

The bundle also holds the case's timeline (bot/evidence/timeline.py), as a readable text in the
case's language and as JSON, with the start of each evidence text in it.

Used by `haven export` (operator), the victim's `/export` and staff retrievals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.content.playbook import load_playbook
from bot.evidence.bundle import (
    Bundle,
    BundleItem,
    CustodyEntry,
    ItemDetails,
    SignedTreeHead,
    TimelineFiles,
    Timestamp,
)
from bot.evidence.bundle_writer import write_bundle
from bot.evidence.extraction_record import RecordMaker, haven_version
from bot.evidence.filenames import sanitise_filename
from bot.evidence.keyfiles import log_origin
from bot.evidence.stamping import Stamper
from bot.evidence.store import OperatorError, Store
from bot.evidence.timeline import Timeline, Timelines
from bot.evidence.verify import verify_bundle
from storage import case_keys, cases, custody, evidence_items, ledger, signed_note, timestamps
from storage.blobs import BlobError
from storage.case_keys import CaseKeyErased, CaseKeyError
from storage.cases import CaseRecord
from storage.evidence_items import ItemRecord
from storage.item_checks import content_differences, leaf_differences, sequence_problems
from storage.leaves import CustodyEvent
from storage.offload import offload
from storage.signed_note import verifier_of
from storage.vault import VaultError
from storage.work_progress import Progress, no_progress

EXPORT = "export"
EXPORTS_DIR = "exports"
RETRIEVALS_DIR = "retrievals"
_LISTED = 5
READ_STAGE = "reading and decrypting the items"
WRITE_STAGE = "writing the bundle"


@dataclass(frozen=True)
class Exported:
    path: Path
    items: int
    tree_size: int
    timestamps: int = 0


class EvidenceMismatch(OperatorError):
    """The case's rows contradict its log: nothing was exported. ``problems`` are
    (item number, what differs), in words, never values."""

    def __init__(self, case_id: int, problems: Sequence[tuple[int, str]]) -> None:
        listed = "; ".join(f"item {n}: {what}" for n, what in problems[:_LISTED])
        more = f" and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        super().__init__(
            f"case {case_id}: the evidence records do not match the evidence log, so nothing "
            f"was exported ({listed}{more}); run `haven audit verify`"
        )
        self.problems = tuple(problems)


@dataclass(frozen=True)
class _Read:
    """What the first, read-only pass found: the case, its key, the rows to export
    (each checked against its leaf) and what is wrong."""

    case: CaseRecord
    key: bytes
    records: list[ItemRecord]
    leaves: dict[int, bytes]
    problems: list[tuple[int, str]]


@dataclass(frozen=True)
class CaseEvidence:
    """A case's evidence, read and decrypted, every row checked against the log; the
    items' proofs are still to be made, against a head signed afterwards."""

    case: CaseRecord
    key: bytes
    records: list[ItemRecord]
    items: list[BundleItem]


async def read_case_evidence(
    store: Store,
    case_id: int,
    window: tuple[datetime, datetime] | None = None,
    progress: Progress = no_progress,
) -> CaseEvidence:
    """The case's evidence; :class:`EvidenceMismatch` if the log contradicts a row."""
    read = await _read_checked(store, case_id, window)
    items = await _opened(store, read, progress)
    if read.problems:
        raise EvidenceMismatch(case_id, sorted(read.problems))
    return CaseEvidence(read.case, read.key, read.records, items)


async def export_case(
    store: Store,
    case_id: int,
    out: Path,
    *,
    actor: str,
    reason: str,
    action: str = EXPORT,
    window: tuple[datetime, datetime] | None = None,
    progress: Progress = no_progress,
) -> Exported:
    """Write case ``case_id``'s bundle to ``out``; raise :class:`OperatorError` if it fails
    (:class:`EvidenceMismatch` when the rows contradict the log: nothing is written).

    ``action`` names the custody event (an export, or a staff retrieval); ``window`` keeps
    only the items whose event time (original date, else time received) lies in
    ``[start, end)``, as a search under the same retrieval sees them. The custody
    history is always whole.
    """
    read = await read_case_evidence(store, case_id, window, progress)
    items = read.items
    now = store.clock.now()
    origin = log_origin(store.config, store.log_key)
    stamper = Stamper(
        store.db,
        store.config.evidence.tsa_urls,
        store.config.evidence.tsa_timeout_seconds,
        store.clock,
    )
    async with store.db.transaction() as conn:
        event = CustodyEvent(actor=actor, action=action, at=now, case_id=case_id, reason=reason)
        await custody.record(conn, event)
        signed = await ledger.sign_head(conn, store.log_key, now, origin=origin)
        await stamper.queue(conn, signed, now)
        size = signed.head.size
        proofs = [await ledger.inclusion_proof(conn, r.leaf_index, size) for r in read.records]
        timelines = Timelines(load_playbook().texts, store.config.tz)
        entries = await _custody_entries(conn, case_id, size)
        # A retrieval is scoped to evidence in a window; the victim's notes and steps in
        # the timeline reach beyond it, so only a whole-case export carries the timeline.
        timeline = (
            await timelines.build(conn, read.case, read.key or None) if window is None else None
        )
    await stamper.stamp_heads([signed.id])
    async with store.db.transaction() as conn:
        tokens = await timestamps.tokens_of(conn, signed.id)
    items = [replace(item, proof=tuple(proof)) for item, proof in zip(items, proofs, strict=True)]
    bundle = Bundle(
        case_id=str(case_id),
        locale=read.case.locale,
        exported_at=now,
        exported_by=actor,
        reason=reason,
        tree_head=SignedTreeHead(signed.head, signed.signature),
        log_key=store.log_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        items=tuple(items),
        custody=tuple(entries),
        timeline=_timeline_files(timelines, read.case, timeline, items),
        checkpoint=signed.checkpoint,
        timestamps=tuple(Timestamp(t.tsa_url, t.token) for t in tokens),
    )
    sealing = _Sealing(store.log_key, origin, RecordMaker(read.case.platform, haven_version()))
    await asyncio.to_thread(_write_checked, bundle, out, sealing, progress)
    return Exported(out, len(items), size, len(tokens))


async def _read_checked(
    store: Store, case_id: int, window: tuple[datetime, datetime] | None
) -> _Read:
    """The case's rows, each checked against its log leaf, and the case's rows as a whole
    (numbered without gaps, in log order, none missing that the log says was received)."""
    async with store.db.transaction() as conn:
        case = await cases.get(conn, case_id)
        if case is None:
            raise OperatorError(f"there is no case {case_id}")
        try:
            key = await case_keys.data_key(conn, store.keyring, case_id)
        except CaseKeyErased:
            raise OperatorError(
                f"case {case_id} was erased; its evidence cannot be exported"
            ) from None
        except CaseKeyError as exc:
            if "has no data key" not in str(exc):
                raise OperatorError(str(exc)) from None
            key = b""  # a case with no evidence yet: the bundle holds its custody only
        every = await evidence_items.for_case(conn, case_id)
        received = {
            row.event.item_no: row.leaf_index
            for row in await custody.for_case(conn, case_id)
            if row.event.action == custody.RECEIVED and row.event.item_no is not None
        }
        records = [
            r
            for r in every
            if window is None or window[0] <= (r.original_date or r.received_at) < window[1]
        ]
        stored = await ledger.leaves_at(conn, [r.leaf_index for r in records])
    leaves = {leaf.index: leaf.data for leaf in stored}
    problems = list(sequence_problems(every, received))
    for record in records:
        differ = leaf_differences(record, leaves.get(record.leaf_index))
        problems += [(record.item_no, what) for what in differ]
    return _Read(case, key, records, leaves, problems)


async def _opened(store: Store, read: _Read, progress: Progress) -> list[BundleItem]:
    """Each item decrypted, its content and origin checked against its row (problems
    are added to ``read.problems``); proofs come later, against the signed head."""
    items = []
    for number, record in enumerate(read.records):
        progress(READ_STAGE, number, len(read.records))
        try:
            opened = await evidence_items.open_item(store.blobs, read.key, record)
        except (BlobError, VaultError):
            # Missing, damaged, or sealed under another item's number (swapped rows).
            read.problems.append((record.item_no, "its content does not open under its number"))
            continue
        differ = await offload(
            record.size, content_differences, record, opened.salt, opened.content
        )
        read.problems.extend((record.item_no, what) for what in differ)
        items.append(
            BundleItem(
                number=record.item_no,
                kind=record.kind,
                name=sanitise_filename(record.file_name),
                content=opened.content,
                salt=opened.salt,
                leaf_data=read.leaves.get(record.leaf_index, b""),
                leaf_index=record.leaf_index,
                proof=(),
                details=ItemDetails(
                    record.received_at, record.original_date, record.mime_type, record.origin
                ),
            )
        )
    progress(READ_STAGE, len(read.records), len(read.records))
    return items


async def _custody_entries(conn: AsyncConnection, case_id: int, size: int) -> list[CustodyEntry]:
    entries = []
    for row in await custody.for_case(conn, case_id):
        if row.event.action == custody.RECEIVED:
            continue  # its leaf is the item's own, already in the bundle
        entries.append(
            CustodyEntry(
                leaf_data=(await ledger.leaf(conn, row.leaf_index)).data,
                leaf_index=row.leaf_index,
                proof=tuple(await ledger.inclusion_proof(conn, row.leaf_index, size)),
            )
        )
    return entries


@dataclass(frozen=True)
class _Sealing:
    """What writing a version 2 bundle needs besides the bundle: the log key to sign its
    manifest with, and the maker of its extraction record."""

    key: Ed25519PrivateKey
    origin: str
    record: RecordMaker

    def sign(self, text: str) -> str:
        return signed_note.sign(text, self.origin, self.key)


def _timeline_files(
    timelines: Timelines, case: CaseRecord, timeline: Timeline | None, items: list[BundleItem]
) -> TimelineFiles | None:
    if timeline is None:
        return None
    texts = {
        item.number: item.content.decode("utf-8", errors="replace")
        for item in items
        if item.kind == "text"
    }
    timeline = timeline.with_excerpts(texts)
    return TimelineFiles(timelines.document(case, timeline), timelines.to_json(timeline))


def _write_checked(bundle: Bundle, out: Path, sealing: _Sealing, progress: Progress) -> None:
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    progress(WRITE_STAGE, 0, 1)
    write_bundle(bundle, out, signer=sealing.sign, record=sealing.record)
    progress(WRITE_STAGE, 1, 1)
    report = verify_bundle(out, verifier_of(sealing.origin, sealing.key), progress=progress)
    if not report.ok:
        out.unlink(missing_ok=True)
        problems = "; ".join(str(finding) for finding in report.findings[:3])
        raise OperatorError(
            f"the bundle for case {bundle.case_id} did not verify, so it was removed: {problems}"
        )


def default_path(store: Store, case_id: int) -> Path:
    """Where `/export` puts a victim's bundle: DATA_DIR/exports/case-N-<time>.zip."""
    stamp = store.clock.now().strftime("%Y%m%dT%H%M%S%fZ")
    return store.config.data_dir / EXPORTS_DIR / f"case-{case_id}-{stamp}.zip"


def retrieval_path(store: Store, retrieval_id: int, case_id: int) -> Path:
    """Where a staff retrieval's bundle is built: DATA_DIR/retrievals/retrieval-R-case-N-….zip."""
    stamp = store.clock.now().strftime("%Y%m%dT%H%M%S%fZ")
    name = f"retrieval-{retrieval_id}-case-{case_id}-{stamp}.zip"
    return store.config.data_dir / RETRIEVALS_DIR / name


def plaintext_copies(store: Store, case_id: int) -> list[Path]:
    """The plaintext files of case ``case_id`` in the data directory: `/export` bundles,
    `/report` PDFs and retrievals."""
    data = store.config.data_dir
    exported = (data / EXPORTS_DIR).glob(f"case-{case_id}-*")
    retrieved = (data / RETRIEVALS_DIR).glob(f"retrieval-*-case-{case_id}-*.zip")
    return sorted([*exported, *retrieved])


def retrieval_copies(store: Store, retrieval_ids: set[int]) -> list[Path]:
    """The bundles built for these retrievals."""
    return sorted(
        path
        for retrieval_id in retrieval_ids
        for path in (store.config.data_dir / RETRIEVALS_DIR).glob(f"retrieval-{retrieval_id}-*.zip")
    )
