"""Export a case as an evidence bundle (bot/evidence/bundle.py) that checks without Haven.

Order matters: the export's own custody event is appended first, then a tree head is
signed, so the head covers the event and the bundle can prove it was exported, when, by
whom and why. Every item's and every custody event's inclusion proof is built against
that one head. The written bundle is then checked with the offline verifier
(:func:`bot.verify.verify_bundle`); one that does not verify is deleted and reported,
never handed over.

The bundle also holds the case's timeline (bot/evidence/timeline.py), as a readable text in the
case's language and as JSON, with the start of each evidence text in it.

Used by `haven export` (operator), the victim's `/export` and staff retrievals.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from bot.content.playbook import load_playbook
from bot.evidence.bundle import Bundle, BundleItem, CustodyEntry, SignedTreeHead, TimelineFiles
from bot.evidence.bundle_writer import write_bundle
from bot.evidence.filenames import sanitise_filename
from bot.evidence.store import OperatorError, Store
from bot.evidence.timeline import Timeline, Timelines
from bot.evidence.verify import verify_bundle
from storage import case_keys, cases, custody, evidence_items, ledger
from storage.blobs import BlobError
from storage.case_keys import CaseKeyErased, CaseKeyError
from storage.cases import CaseRecord
from storage.leaves import CustodyEvent
from storage.vault import VaultError

EXPORT = "export"
EXPORTS_DIR = "exports"
RETRIEVALS_DIR = "retrievals"


@dataclass(frozen=True)
class Exported:
    path: Path
    items: int
    tree_size: int


async def export_case(
    store: Store,
    case_id: int,
    out: Path,
    *,
    actor: str,
    reason: str,
    action: str = EXPORT,
    window: tuple[datetime, datetime] | None = None,
) -> Exported:
    """Write case ``case_id``'s bundle to ``out``; raise :class:`OperatorError` if it fails.

    ``action`` names the custody event (an export, or a staff retrieval); ``window`` keeps
    only the items whose event time (original date, else time received) lies in
    ``[start, end)``, as a search under the same retrieval sees them. The custody
    history is always whole.
    """
    now = store.clock.now()
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
        event = CustodyEvent(actor=actor, action=action, at=now, case_id=case_id, reason=reason)
        await custody.record(conn, event)
        signed = await ledger.sign_head(conn, store.log_key, now)
        size = signed.head.size
        records = [
            r
            for r in await evidence_items.for_case(conn, case_id)
            if window is None or window[0] <= (r.original_date or r.received_at) < window[1]
        ]
        item_proofs = [await ledger.inclusion_proof(conn, r.leaf_index, size) for r in records]
        item_leaves = [(await ledger.leaf(conn, r.leaf_index)).data for r in records]
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
        timelines = Timelines(load_playbook().texts, store.config.tz)
        # A retrieval is scoped to evidence in a window; the victim's notes and steps in
        # the timeline reach beyond it, so only a whole-case export carries the timeline.
        timeline = await timelines.build(conn, case, key or None) if window is None else None
    items = []
    for record, proof, leaf_data in zip(records, item_proofs, item_leaves, strict=True):
        try:
            opened = await evidence_items.open_item(store.blobs, key, record)
        except (BlobError, VaultError) as exc:
            raise OperatorError(f"item {record.item_id} cannot be read: {exc}") from None
        items.append(
            BundleItem(
                number=record.item_no,
                kind=record.kind,
                name=sanitise_filename(record.file_name),
                content=opened.content,
                salt=opened.salt,
                leaf_data=leaf_data,
                leaf_index=record.leaf_index,
                proof=tuple(proof),
            )
        )
    bundle = Bundle(
        case_id=str(case_id),
        locale=case.locale,
        exported_at=now,
        exported_by=actor,
        reason=reason,
        tree_head=SignedTreeHead(signed.head, signed.signature),
        log_key=store.log_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        items=tuple(items),
        custody=tuple(entries),
        timeline=_timeline_files(timelines, case, timeline, items),
    )
    await asyncio.to_thread(_write_checked, bundle, out, store.log_key.public_key())
    return Exported(out, len(items), size)


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


def _write_checked(bundle: Bundle, out: Path, public_key: Ed25519PublicKey) -> None:
    out.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_bundle(bundle, out)
    report = verify_bundle(out, public_key)
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
    """The bundles of case ``case_id`` in the data directory: `/export`s and retrievals."""
    data = store.config.data_dir
    exported = (data / EXPORTS_DIR).glob(f"case-{case_id}-*.zip")
    retrieved = (data / RETRIEVALS_DIR).glob(f"retrieval-*-case-{case_id}-*.zip")
    return sorted([*exported, *retrieved])


def retrieval_copies(store: Store, retrieval_ids: set[int]) -> list[Path]:
    """The bundles built for these retrievals."""
    return sorted(
        path
        for retrieval_id in retrieval_ids
        for path in (store.config.data_dir / RETRIEVALS_DIR).glob(f"retrieval-{retrieval_id}-*.zip")
    )
