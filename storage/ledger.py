"""The evidence log in the database: an RFC 9162 Merkle tree over ``ledger_leaves``.

The mathematics is :mod:`storage.merkle`; this module stores it. Every function takes
the caller's open connection, so a leaf is appended in the same transaction as the rows
it vouches for: both commit, or neither does.

Costs, whatever the size of the log:

- ``append`` reads the O(log n) border nodes of the tree in one query and writes one leaf
  row plus the O(log n) perfect nodes it completes (``ledger_nodes`` holds only perfect
  subtrees, which never change, so nothing is ever rewritten). On SQLite the border it
  ends with is left in its group's scope (storage/group_commit.py), so the next append
  of the same group reads nothing: neither the size nor the nodes;
- a root, an inclusion proof or a consistency proof is one query for O(log n) nodes. A
  size beyond the log needs a node that does not exist yet, so asking for one is refused
  (LedgerError) without a separate look at the log's size.

Concurrent writers. On SQLite, :class:`storage.database.Database` already serialises
transactions. On PostgreSQL, where several Haven instances may append at once, a
transaction-scoped advisory lock serialises appends, and an append then reads the size
and the border in one statement and writes the leaf and its nodes in one more; the leaf
index is also the primary key, so two appends can never both claim one position.

Tree heads are signed with the log's Ed25519 key (:mod:`storage.log_key`) and stored;
they are what a bundle's proofs lead to and what the daily briefing publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import RowMapping, and_, bindparam, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable

from storage.group_commit import group_scope
from storage.leaves import LeafKind
from storage.merkle import (
    CompactRange,
    NodeID,
    ProofPlan,
    TreeHead,
    border_ids,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    root_from_nodes,
    sign_tree_head,
)
from storage.prepared import Prepared
from storage.schema import custody_events, evidence_items, ledger_leaves, ledger_nodes, tree_heads
from storage.tlog import Checkpoint, sign_checkpoint

# Any fixed 64-bit number; it only has to differ from other advisory locks Haven takes.
_APPEND_LOCK = 0x48415645_4E4C4F47  # "HAVENLOG"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BATCH = 500
_BORDER = "ledger.border"  # the key of the border left in a group's scope


class LedgerError(Exception):
    """The stored log cannot answer: a node or leaf it needs is missing."""


@dataclass(frozen=True)
class Appended:
    """Where a new leaf went, and the tree it completed."""

    index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes


@dataclass(frozen=True)
class StoredLeaf:
    index: int
    kind: LeafKind
    data: bytes


@dataclass(frozen=True)
class SignedHead:
    head: TreeHead
    signature: bytes
    checkpoint: str = ""
    """The head as a signed C2SP checkpoint note (storage/tlog.py); "" for older heads."""
    id: int = 0


# Built once: every evidence item and custody event appends a leaf.
_TREE_SIZE = Prepared(select(func.max(ledger_leaves.c.leaf_index)))
_INSERT_LEAF = Prepared(insert(ledger_leaves))
_INSERT_NODES = Prepared(insert(ledger_nodes))


async def append(conn: AsyncConnection, kind: LeafKind, data: bytes, now: datetime) -> Appended:
    """Append one leaf; returns its index and the new tree's size and root."""
    if conn.dialect.name == "postgresql":
        return await _append_taking_turns(conn, kind, data, now)
    border = await _border(conn)
    size = border.size
    hashed = leaf_hash(data)
    created = border.append(hashed)
    leaf = {"leaf_index": size, "kind": kind.value, "data": data, "created_at": now}
    await _INSERT_LEAF.run(conn, leaf)
    await _INSERT_NODES.run_many(
        conn,
        [{"level": node.level, "node_index": node.index, "hash": value} for node, value in created],
    )
    _leave_border(conn, border)
    return Appended(index=size, leaf_hash=hashed, tree_size=size + 1, root=border.root())


async def tree_size(conn: AsyncConnection) -> int:
    """Leaves in the log. The primary key index answers this without a scan."""
    ((last,),) = await _TREE_SIZE.rows(conn, {})
    return 0 if last is None else int(last) + 1


async def known_size(conn: AsyncConnection) -> int:
    """How many leaves the log is known to have had: the most its leaf rows, its leaf
    hashes, the item and custody rows that name a leaf, and its signed heads vouch for.
    Deleting the newest leaf rows shortens :func:`tree_size` without a trace in the
    leaves that remain; what else names them still says how long the log was. (Each
    maximum is read from an index.)"""
    hashed = select(func.max(ledger_nodes.c.node_index)).where(ledger_nodes.c.level == 0)
    named = [
        hashed,
        select(func.max(evidence_items.c.leaf_index)),
        select(func.max(custody_events.c.leaf_index)),
    ]
    lasts = [(await conn.execute(query)).scalar() for query in named]
    signed = (await conn.execute(select(func.max(tree_heads.c.tree_size)))).scalar()
    return max(
        await tree_size(conn),
        *(0 if last is None else int(last) + 1 for last in lasts),
        int(signed or 0),
    )


async def root(conn: AsyncConnection, size: int | None = None) -> bytes:
    """Root of the tree of the first ``size`` leaves (default: all)."""
    if size is None:
        size = await tree_size(conn)
    return root_from_nodes(size, await _fetch_ordered(conn, border_ids(size)))


async def inclusion_proof(conn: AsyncConnection, index: int, size: int) -> list[bytes]:
    """RFC 9162 audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
    return await _assemble(conn, inclusion_plan(index, size))


async def consistency_proof(conn: AsyncConnection, size1: int, size2: int) -> list[bytes]:
    """RFC 9162 proof that the tree of ``size1`` leaves is a prefix of that of ``size2``."""
    return await _assemble(conn, consistency_plan(size1, size2))


async def leaf(conn: AsyncConnection, index: int) -> StoredLeaf:
    row = (
        await conn.execute(
            select(ledger_leaves.c.kind, ledger_leaves.c.data).where(
                ledger_leaves.c.leaf_index == index
            )
        )
    ).first()
    if row is None:
        raise LedgerError(f"leaf {index} is not in the log")
    return StoredLeaf(index=index, kind=LeafKind(row.kind), data=bytes(row.data))


async def sign_head(
    conn: AsyncConnection, key: Ed25519PrivateKey, now: datetime, *, origin: str = ""
) -> SignedHead:
    """Sign and store the head of the log as it is now; with an ``origin``, also as a
    C2SP checkpoint of the log of that name."""
    size = await tree_size(conn)
    head = TreeHead(size=size, root=await root(conn, size), timestamp_ms=_ms(now))
    signature = sign_tree_head(head, key)
    note = sign_checkpoint(Checkpoint(origin, head.size, head.root), key) if origin else ""
    inserted = await conn.execute(
        insert(tree_heads)
        .values(
            tree_size=head.size,
            timestamp_ms=head.timestamp_ms,
            root=head.root,
            signature=signature,
            checkpoint=note or None,
        )
        .returning(tree_heads.c.id)
    )
    return SignedHead(head, signature, note, inserted.scalar_one())


async def latest_head(conn: AsyncConnection) -> SignedHead | None:
    query = select(tree_heads).order_by(tree_heads.c.id.desc()).limit(1)
    row = (await conn.execute(query)).mappings().first()
    return _signed_head(row) if row is not None else None


async def signed_heads(conn: AsyncConnection) -> list[SignedHead]:
    """Every head ever signed, oldest first."""
    rows = await conn.execute(select(tree_heads).order_by(tree_heads.c.id))
    return [_signed_head(row) for row in rows.mappings()]


async def nodes_in(conn: AsyncConnection, level: int, begin: int, end: int) -> dict[int, bytes]:
    """Stored nodes of one level with index in ``[begin, end)``, by index (for audits)."""
    rows = await conn.execute(
        select(ledger_nodes.c.node_index, ledger_nodes.c.hash).where(
            ledger_nodes.c.level == level,
            ledger_nodes.c.node_index >= begin,
            ledger_nodes.c.node_index < end,
        )
    )
    return {index: bytes(value) for index, value in rows}


async def leaves_in(conn: AsyncConnection, begin: int, end: int) -> list[StoredLeaf]:
    """Stored leaves with index in ``[begin, end)``, in order (for audits)."""
    rows = await conn.execute(
        select(ledger_leaves.c.leaf_index, ledger_leaves.c.kind, ledger_leaves.c.data)
        .where(ledger_leaves.c.leaf_index >= begin, ledger_leaves.c.leaf_index < end)
        .order_by(ledger_leaves.c.leaf_index)
    )
    return [StoredLeaf(index, LeafKind(kind), bytes(data)) for index, kind, data in rows]


async def leaves_at(conn: AsyncConnection, indexes: Sequence[int]) -> list[StoredLeaf]:
    """The stored leaves among ``indexes`` (for audits), in batches of bound parameters
    small enough for any database."""
    found: list[StoredLeaf] = []
    for start in range(0, len(indexes), _BATCH):
        rows = await conn.execute(
            select(ledger_leaves.c.leaf_index, ledger_leaves.c.kind, ledger_leaves.c.data).where(
                ledger_leaves.c.leaf_index.in_(indexes[start : start + _BATCH])
            )
        )
        found.extend(StoredLeaf(index, LeafKind(kind), bytes(data)) for index, kind, data in rows)
    return found


# --- internals -----------------------------------------------------------------------------


# --- PostgreSQL: appends of every instance take turns -----------------------------------
#
# A transaction-scoped advisory lock serialises them, so everything an append does between
# taking it and committing keeps every other append on every instance waiting — and each
# statement there is a round trip through a busy event loop. So after the lock the append
# reads in one statement (the size and the border) and writes in one (the leaf and the
# nodes it completes). The lock is a statement of its own: a statement's snapshot is taken
# when it starts, so one that also read the log would read it as it was before the wait.

_APPEND_LOCK_SQL = text("SELECT pg_advisory_xact_lock(:key)")


async def _append_taking_turns(
    conn: AsyncConnection, kind: LeafKind, data: bytes, now: datetime
) -> Appended:
    await conn.execute(_APPEND_LOCK_SQL, {"key": _APPEND_LOCK})
    border = await _border_at_once(conn)
    size = border.size
    hashed = leaf_hash(data)
    created = border.append(hashed)
    leaf = {"leaf_index": size, "kind": kind.value, "data": data, "created_at": now}
    await _store_at_once(conn, leaf, created)
    return Appended(index=size, leaf_hash=hashed, tree_size=size + 1, root=border.root())


# One primary-key lookup per set bit of the size: the perfect subtrees of the border.
_BORDER_AT_ONCE = text(
    """
    SELECT size.n, border.level, border.hash
    FROM (SELECT coalesce(max(leaf_index) + 1, 0) AS n FROM ledger_leaves) AS size
    LEFT JOIN LATERAL (
        SELECT bit.b AS level, node.hash
        FROM generate_series(0, 62) AS bit(b)
        LEFT JOIN ledger_nodes AS node
            ON node.level = bit.b AND node.node_index = (size.n >> bit.b) - 1
        WHERE (size.n >> bit.b) & 1 = 1
    ) AS border ON true
    """
)


async def _border_at_once(conn: AsyncConnection) -> CompactRange:
    rows = (await conn.execute(_BORDER_AT_ONCE)).all()
    size = int(rows[0][0])
    found = {
        NodeID(level, (size >> level) - 1): bytes(value)
        for _, level, value in rows
        if value is not None
    }
    ids = border_ids(size)
    missing = [node for node in ids if node not in found]
    if missing:
        raise LedgerError(f"the log lacks node {missing[0]}: `haven audit verify` tells more")
    return CompactRange(size, [found[node] for node in ids])


@cache
def _store_statement(nodes: int) -> Executable:
    """The leaf and ``nodes`` nodes in one INSERT (the leaf's in a CTE). Built once per
    count: bound values only, so no array type for asyncpg to look up per connection."""
    leaf = insert(ledger_leaves).values(
        {name: bindparam(name) for name in ("leaf_index", "kind", "data", "created_at")}
    )
    rows: list[dict[str, Any]] = [
        {
            "level": bindparam(f"level{n}"),
            "node_index": bindparam(f"index{n}"),
            "hash": bindparam(f"hash{n}"),
        }
        for n in range(nodes)
    ]
    return insert(ledger_nodes).values(rows).add_cte(leaf.cte("leaf"))


async def _store_at_once(
    conn: AsyncConnection, leaf: dict[str, Any], created: Sequence[tuple[NodeID, bytes]]
) -> None:
    values = dict(leaf)
    for n, (node, value) in enumerate(created):
        values |= {f"level{n}": node.level, f"index{n}": node.index, f"hash{n}": value}
    await conn.execute(_store_statement(len(created)), values)


# --- SQLite ----------------------------------------------------------------------------------


async def _border(conn: AsyncConnection) -> CompactRange:
    """The border of the tree as it stands: the one the group's last append left, else
    read from the stored nodes. Taken out of the scope, so a failure before the new leaf
    is stored leaves nothing behind there."""
    scope = group_scope(conn)
    left = scope.pop(_BORDER, None) if scope is not None else None
    if isinstance(left, CompactRange):
        return left
    size = await tree_size(conn)
    return CompactRange(size, await _fetch_ordered(conn, border_ids(size)))


def _leave_border(conn: AsyncConnection, border: CompactRange) -> None:
    scope = group_scope(conn)
    if scope is not None:
        scope[_BORDER] = border


async def _fetch(conn: AsyncConnection, ids: Sequence[NodeID]) -> dict[NodeID, bytes]:
    if not ids:
        return {}
    values = {}
    for number, node in enumerate(ids):
        values[f"level{number}"] = node.level
        values[f"index{number}"] = node.index
    rows = await _nodes_query(len(ids)).rows(conn, values)
    return {NodeID(level, index): bytes(value) for level, index, value in rows}


@cache
def _nodes_query(count: int) -> Prepared:
    """One primary-key lookup per node, ORed. Not a row-value IN list: SQLite answers that
    with a scan of the whole table. Built once per count, so SQLAlchemy compiles it once."""
    nodes = ledger_nodes.c
    wanted = or_(
        *(
            and_(nodes.level == bindparam(f"level{n}"), nodes.node_index == bindparam(f"index{n}"))
            for n in range(count)
        )
    )
    return Prepared(select(nodes.level, nodes.node_index, nodes.hash).where(wanted))


async def _fetch_ordered(conn: AsyncConnection, ids: Sequence[NodeID]) -> list[bytes]:
    found = await _fetch(conn, ids)
    missing = [node for node in ids if node not in found]
    if missing:
        raise LedgerError(
            f"the log lacks node {missing[0]}: the tree size asked for is beyond the log, "
            "or the log is damaged (`haven audit verify` tells which)"
        )
    return [found[node] for node in ids]


async def _assemble(conn: AsyncConnection, plan: ProofPlan) -> list[bytes]:
    return plan.assemble(await _fetch_ordered(conn, plan.ids))


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _signed_head(row: RowMapping) -> SignedHead:
    head = TreeHead(
        size=row["tree_size"], root=bytes(row["root"]), timestamp_ms=row["timestamp_ms"]
    )
    return SignedHead(head, bytes(row["signature"]), row["checkpoint"] or "", row["id"])
