"""Recompute the evidence log from the database and the blob store; report what differs.

``audit`` is what ``haven audit verify`` runs. It checks, for every leaf of the log as it
stood when the audit began (appends made meanwhile are left for the next audit):

- the tree: each leaf's data hashes to its stored leaf hash, and each stored interior
  node is the hash of its two stored children, so any changed, missing or reordered leaf
  or node is found where it is, once (a parent is checked against the *stored* children,
  so one changed leaf is one finding, not one per level above it);
- the signed tree heads: each root equals the root recomputed at that size, and each
  signature verifies with the log's public key; the log checked is as long as the
  longest of its leaf rows, its leaf hashes and its heads, so a deleted newest leaf row
  is a missing leaf, and a head over more leaves than the rows hold is reported;
- the records: each evidence item row rebuilds its leaf byte for byte (changed metadata,
  an item moved to another leaf), each custody row likewise, and no leaf lacks its row;
- the content: each item's blob exists and is intact, decrypts with its case's key and
  item id, and gives the SHA-256 and commitments its row and leaf hold. Items of erased
  cases are skipped here: their content is gone on purpose, their leaves still verify.

The log is read in chunks of ``2**CHUNK_LEVEL`` leaves, one short transaction each, so a
long audit never holds the database's write lock for long and needs little memory. Most
chunks of a healthy log have nothing to report; on SQLite, storage/audit_sqlite.py first
tries to prove that of a chunk (its tree, its custody rows, every row present) without
the write lock and without a Python object per row. A chunk so proven only has its item
and "received" rows compared here; every other chunk, and every chunk on PostgreSQL,
goes through all the checks below, which find the same either way.
Findings name a problem, the leaf and item concerned, and never contain evidence content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import case_keys, custody, evidence_items, ledger
from storage.audit_sqlite import SqliteSoundness
from storage.blobs import BlobError, Blobs
from storage.case_keys import CaseKeyErased, CaseKeyError
from storage.database import Database
from storage.evidence_items import ItemRecord
from storage.item_checks import commits
from storage.keys import KeyRing
from storage.leaves import CustodyEvent, LeafKind
from storage.merkle import leaf_hash, node_hash, verify_tree_head
from storage.offload import offload
from storage.vault import VaultError
from storage.work_progress import Progress, no_progress

CHUNK_LEVEL = 14


class Problem(StrEnum):
    LEAF_MISSING = "leaf_missing"
    LEAF_CHANGED = "leaf_changed"
    NODE_MISSING = "node_missing"
    NODE_CHANGED = "node_changed"
    HEAD_AHEAD_OF_LOG = "head_ahead_of_log"
    HEAD_ROOT_DIFFERS = "head_root_differs"
    HEAD_SIGNATURE_INVALID = "head_signature_invalid"
    ROW_MISSING = "row_missing"
    ITEM_DIFFERS = "item_differs"
    CUSTODY_DIFFERS = "custody_differs"
    KEY_UNUSABLE = "key_unusable"
    BLOB_MISSING = "blob_missing"
    BLOB_CORRUPTED = "blob_corrupted"
    CONTENT_UNREADABLE = "content_unreadable"
    CONTENT_CHANGED = "content_changed"


@dataclass(frozen=True)
class Finding:
    problem: Problem
    detail: str
    leaf_index: int | None = None
    case_id: int | None = None
    item_no: int | None = None

    def __str__(self) -> str:
        where = []
        if self.leaf_index is not None:
            where.append(f"leaf {self.leaf_index}")
        if self.case_id is not None:
            item = f", item {self.item_no}" if self.item_no is not None else ""
            where.append(f"case {self.case_id}{item}")
        place = f" ({'; '.join(where)})" if where else ""
        return f"{self.problem}{place}: {self.detail}"


AUDIT_STAGE = "checking the evidence log, its records and content (entries)"


async def audit(
    db: Database,
    blobs: Blobs,
    ring: KeyRing,
    public_key: Ed25519PublicKey,
    progress: Progress = no_progress,
) -> list[Finding]:
    """Every mismatch between the log, the rows and the blobs; empty when all is well."""
    return await _Audit(db, blobs, ring, public_key, progress).run()


@dataclass(frozen=True)
class _Chunk:
    begin: int
    end: int
    leaves: dict[int, ledger.StoredLeaf]
    levels: list[dict[int, bytes]]
    items: list[ItemRecord]
    events: list[custody.CustodyRow]


class _Audit:
    def __init__(
        self,
        db: Database,
        blobs: Blobs,
        ring: KeyRing,
        public_key: Ed25519PublicKey,
        progress: Progress = no_progress,
    ) -> None:
        self.db = db
        self.progress = progress
        self.blobs = blobs
        self.ring = ring
        self.public_key = public_key
        self.findings: list[Finding] = []
        self.keys: dict[int, bytes | CaseKeyError] = {}

    async def run(self) -> list[Finding]:
        async with self.db.transaction() as conn:
            # The length the log is known to have had, not just its last leaf row: a
            # deleted newest leaf is then a missing leaf (its hash and heads remain).
            size = await ledger.known_size(conn)
            stored = await ledger.tree_size(conn)
        soundness = SqliteSoundness.open_for(self.db, CHUNK_LEVEL)
        try:
            await self._check_chunks(size, soundness)
        finally:
            if soundness is not None:
                soundness.close()
        await self._check_upper_levels(size)
        await self._check_heads(stored)
        return self.findings

    async def _check_chunks(self, size: int, soundness: SqliteSoundness | None) -> None:
        """Chunk by chunk. A chunk proven sound (on SQLite) skips the tree and custody
        checks, which would find nothing there; any other goes through all of them."""
        step = 1 << CHUNK_LEVEL
        chunks = [(begin, min(begin + step, size)) for begin in range(0, size, step)]
        verdicts = soundness.verdicts(chunks) if soundness is not None else None
        try:
            for index, (begin, end) in enumerate(chunks):
                if verdicts is not None and await verdicts.sound(index):
                    items = await self._check_items_of_sound_chunk(begin, end)
                else:
                    items = await self._check_chunk(begin, end)
                await self._check_contents(items)
                self.progress(AUDIT_STAGE, end, size)
        finally:
            if verdicts is not None:
                verdicts.close()

    async def _check_chunk(self, begin: int, end: int) -> list[ItemRecord]:
        chunk = await self._read(begin, end)
        changed = self._check_tree(chunk)
        self._check_records(chunk, changed)
        return chunk.items

    async def _check_items_of_sound_chunk(self, begin: int, end: int) -> list[ItemRecord]:
        """What a sound chunk still needs from the records checks: its item rows and
        "received" rows against the leaves they name (its tree, other custody rows and
        every row's presence are proven, and so is that "received" rows are only found
        on items' leaves: a chunk without items has none)."""
        async with self.db.transaction() as conn:
            items = await evidence_items.in_leaf_range(conn, begin, end)
            received = await custody.received_in_leaf_range(conn, begin, end) if items else []
            named = {item.leaf_index for item in items} | {row.leaf_index for row in received}
            leaves = {leaf.index: leaf for leaf in await ledger.leaves_at(conn, sorted(named))}
            await self._load_keys(conn, {item.case_id for item in items})
        self._compare_rows(leaves, items, received, set())
        return items

    def _add(self, problem: Problem, detail: str, **where: int | None) -> None:
        self.findings.append(Finding(problem, detail, **where))

    def _about_item(self, item: ItemRecord, problem: Problem, detail: str) -> None:
        self._add(
            problem,
            detail,
            leaf_index=item.leaf_index,
            case_id=item.case_id,
            item_no=item.item_no,
        )

    # ---- reading ---------------------------------------------------------------------

    async def _read(self, begin: int, end: int) -> _Chunk:
        async with self.db.transaction() as conn:
            leaves = {leaf.index: leaf for leaf in await ledger.leaves_in(conn, begin, end)}
            levels = [
                await ledger.nodes_in(conn, level, begin >> level, end >> level)
                for level in range(CHUNK_LEVEL + 1)
            ]
            items = await evidence_items.in_leaf_range(conn, begin, end)
            events = await custody.in_leaf_range(conn, begin, end)
            await self._load_keys(conn, {item.case_id for item in items})
        return _Chunk(begin, end, leaves, levels, items, events)

    async def _load_keys(self, conn: AsyncConnection, case_ids: set[int]) -> None:
        for case_id in case_ids - self.keys.keys():
            try:
                self.keys[case_id] = await case_keys.data_key(conn, self.ring, case_id)
            except CaseKeyError as exc:
                self.keys[case_id] = exc

    # ---- the tree ----------------------------------------------------------------------

    def _check_tree(self, chunk: _Chunk) -> set[int]:
        """Check the chunk's leaves and nodes; return the leaves whose data changed."""
        changed: set[int] = set()
        stored = chunk.levels[0]
        for index in range(chunk.begin, chunk.end):
            leaf, hashed = chunk.leaves.get(index), stored.get(index)
            if leaf is None:
                self._add(Problem.LEAF_MISSING, "no leaf row at this index", leaf_index=index)
            elif hashed is None:
                self._add(Problem.NODE_MISSING, "its leaf hash is not stored", leaf_index=index)
            elif leaf_hash(leaf.data) != hashed:
                changed.add(index)
                self._add(
                    Problem.LEAF_CHANGED,
                    "its data no longer hashes to the leaf hash",
                    leaf_index=index,
                )
        for level in range(1, CHUNK_LEVEL + 1):
            self._check_level(
                level,
                chunk.levels[level - 1],
                chunk.levels[level],
                chunk.begin >> level,
                chunk.end >> level,
            )
        return changed

    def _check_level(
        self,
        level: int,
        children: dict[int, bytes],
        parents: dict[int, bytes],
        begin: int,
        end: int,
    ) -> None:
        """Each stored node of ``level`` in ``[begin, end)`` against its stored children."""
        for index in range(begin, end):
            stored = parents.get(index)
            left, right = children.get(2 * index), children.get(2 * index + 1)
            if stored is None:
                self._add(Problem.NODE_MISSING, _node_named(level, index))
            elif left is not None and right is not None and node_hash(left, right) != stored:
                self._add(Problem.NODE_CHANGED, _node_named(level, index))

    async def _check_upper_levels(self, size: int) -> None:
        """Levels above one chunk hold few nodes (``size >> level``): read them whole."""
        level = CHUNK_LEVEL + 1
        while size >> level:
            async with self.db.transaction() as conn:
                children = await ledger.nodes_in(conn, level - 1, 0, size >> (level - 1))
                parents = await ledger.nodes_in(conn, level, 0, size >> level)
            self._check_level(level, children, parents, 0, size >> level)
            level += 1

    async def _check_heads(self, size: int) -> None:
        async with self.db.transaction() as conn:
            for signed in await ledger.signed_heads(conn):
                head = signed.head
                what = f"head of size {head.size} signed at {head.timestamp_ms} ms"
                if head.size > size:
                    self._add(Problem.HEAD_AHEAD_OF_LOG, f"{what}: the log has {size} leaves")
                    continue
                try:
                    recomputed = await ledger.root(conn, head.size)
                except ledger.LedgerError as exc:
                    self._add(Problem.NODE_MISSING, f"{what}: {exc}")
                    continue
                if recomputed != head.root:
                    self._add(
                        Problem.HEAD_ROOT_DIFFERS,
                        f"{what}: root {head.root.hex()}, log {recomputed.hex()}",
                    )
                if not verify_tree_head(head, signed.signature, self.public_key):
                    self._add(Problem.HEAD_SIGNATURE_INVALID, f"{what}: not signed by the log key")

    # ---- the records -------------------------------------------------------------------

    def _check_records(self, chunk: _Chunk, changed: set[int]) -> None:
        self._compare_rows(chunk.leaves, chunk.items, chunk.events, changed)
        self._check_rows_present(chunk)

    def _compare_rows(
        self,
        leaves: dict[int, ledger.StoredLeaf],
        items: list[ItemRecord],
        events: list[custody.CustodyRow],
        changed: set[int],
    ) -> None:
        """Rows against their leaves. A changed leaf is reported already: its rows are not
        compared with it again, so one changed leaf is one finding."""
        by_leaf = {item.leaf_index: item for item in items}
        for item in items:
            if item.leaf_index not in changed:
                self._check_item_leaf(leaves.get(item.leaf_index), item)
        for row in events:
            if row.leaf_index not in changed:
                self._check_event_leaf(leaves.get(row.leaf_index), row, by_leaf)

    def _check_rows_present(self, chunk: _Chunk) -> None:
        """Every leaf but a tombstone has its row. "Received" rows share their item's
        evidence leaf; every other event has its own."""
        items = {item.leaf_index for item in chunk.items}
        logged = {row.leaf_index for row in chunk.events if row.event.action != custody.RECEIVED}
        for index, leaf in chunk.leaves.items():
            described = items if leaf.kind is LeafKind.EVIDENCE else logged
            if leaf.kind is not LeafKind.TOMBSTONE and index not in described:
                case_id, item_no = _item_named_in(leaf.data)
                self._add(
                    Problem.ROW_MISSING,
                    f"no {leaf.kind} row refers to this leaf",
                    leaf_index=index,
                    case_id=case_id,
                    item_no=item_no,
                )

    def _check_item_leaf(self, leaf: ledger.StoredLeaf | None, item: ItemRecord) -> None:
        if leaf is None or leaf.data != item.leaf().to_bytes():
            self._about_item(item, Problem.ITEM_DIFFERS, "the item's row does not rebuild its leaf")

    def _check_event_leaf(
        self, leaf: ledger.StoredLeaf | None, row: custody.CustodyRow, items: dict[int, ItemRecord]
    ) -> None:
        event = row.event
        if event.action == custody.RECEIVED:
            item = items.get(row.leaf_index)
            if item is None and leaf is not None and leaf.kind is LeafKind.EVIDENCE:
                return  # the item's row is gone: reported once, as a missing row
            same = _received_as_logged(leaf, item, event)
        else:
            same = leaf is not None and leaf.data == event.to_bytes()
        if not same:
            self._add(
                Problem.CUSTODY_DIFFERS,
                f"the {event.action!r} custody row does not match its leaf",
                leaf_index=row.leaf_index,
                case_id=event.case_id,
                item_no=event.item_no,
            )

    # ---- the content -------------------------------------------------------------------

    async def _check_contents(self, items: list[ItemRecord]) -> None:
        for item in items:
            key = self.keys[item.case_id]
            if isinstance(key, CaseKeyErased):
                continue
            if isinstance(key, CaseKeyError):
                self._about_item(item, Problem.KEY_UNUSABLE, str(key))
                continue
            problem = await self._content_problem(key, item)
            if problem is not None:
                self._about_item(item, *problem)

    async def _content_problem(self, key: bytes, item: ItemRecord) -> tuple[Problem, str] | None:
        try:
            opened = await evidence_items.open_item(self.blobs, key, item)
        except BlobError as exc:
            missing = item.blob is not None and not await self.blobs.aexists(item.blob)
            return (Problem.BLOB_MISSING if missing else Problem.BLOB_CORRUPTED), str(exc)
        except VaultError as exc:
            return Problem.CONTENT_UNREADABLE, str(exc)
        checks = await offload(item.size, _content_differences, opened.salt, opened.content, item)
        return (Problem.CONTENT_CHANGED, ", ".join(checks)) if checks else None


def _node_named(level: int, index: int) -> str:
    first, last = index << level, ((index + 1) << level) - 1
    return f"level {level} node {index} covering leaves {first}..{last}"


def _content_differences(salt: bytes, content: bytes, item: ItemRecord) -> list[str]:
    """Which of the item's recorded hashes its decrypted content no longer gives."""
    differ = []
    if len(content) != item.size:
        differ.append("size")
    digest = hashlib.sha256(content).digest()
    if digest.hex() != item.content_sha256:
        differ.append("SHA-256")
    if not commits(item, salt, content, digest):
        differ.append("content commitment")
    if item.origin is not None and item.origin.commitment(salt) != item.origin_commitment:
        differ.append("origin commitment")
    return differ


def _received_as_logged(
    leaf: ledger.StoredLeaf | None, item: ItemRecord | None, event: CustodyEvent
) -> bool:
    """Whether the item's leaf says what a "received" row claims: which case and item, and
    when. The leaf is rebuilt from the item row with the row's claims in it, so a changed
    item row is reported as the item's finding, not also as this one's."""
    if leaf is None or item is None or event.case_id is None or event.item_no is None:
        return False
    claimed = replace(item, case_id=event.case_id, item_no=event.item_no, received_at=event.at)
    return leaf.data == claimed.leaf().to_bytes()


def _item_named_in(data: bytes) -> tuple[int | None, int | None]:
    """The case and item number a leaf names (``"case": 12, "item": "12-3"``), if legible."""
    try:
        record = json.loads(data)
    except ValueError:
        return None, None
    if not isinstance(record, dict):
        return None, None
    case, item = record.get("case"), record.get("item")
    number = item.rpartition("-")[2] if isinstance(item, str) else ""
    return (case if isinstance(case, int) else None), (int(number) if number.isdigit() else None)
