"""RFC 9162 §2.1 Merkle tree mathematics for Haven's tamper-evident evidence log.

Everything here is pure computation: no I/O, no database. A persistent store
plugs in through node IDs and hashes, so the planning code exercised by the
tests (via :class:`MemoryTree`) is exactly the code a database store runs.

Hashing (RFC 9162 §2.1.1), SHA-256 throughout::

    MTH({})      = SHA-256()                       EMPTY_ROOT
    leaf hash    = SHA-256(0x00 || data)           leaf_hash(data)
    interior     = SHA-256(0x01 || left || right)  node_hash(left, right)

Node addressing. A store keeps only *perfect* subtree hashes: ``NodeID(level,
index)`` covers leaves ``[index * 2**level, (index + 1) * 2**level)``. Such a
node never changes once its last leaf exists, so appending leaf ``n`` writes
the leaf and each parent it completes (O(log n) rows) and rewrites nothing:
:func:`append_nodes` for one leaf, :class:`CompactRange` for a batch.
Any root or proof of any tree size is then computed from O(log n) perfect
nodes; the non-perfect ("ephemeral") nodes on a tree's right border are
rehashed on the fly. :func:`inclusion_plan` and :func:`consistency_plan`
return a :class:`ProofPlan` listing every node to fetch, so a database
answers a proof with one query; ``plan.assemble(hashes)`` then produces the
RFC audit path. The design follows transparency-dev/merkle (``proof`` and
``compact`` packages).

Signed tree head encoding (``TreeHead.to_bytes``): 61 bytes, a fixed prefix and
fixed-width fields, so two different heads never encode alike::

    offset  length  field
    0       13      ASCII "haven-sth-v1\\n" (domain separation + version)
    13      8       tree size, unsigned big-endian
    21      8       timestamp, milliseconds since the Unix epoch, unsigned big-endian
    29      32      root hash (SHA-256, RFC 9162 MTH)

The signature is plain Ed25519 (RFC 8032) over those 61 bytes. To check one by
hand for size 5, timestamp 1700000000000, root ROOTHEX (64 hex digits), the raw
64-byte signature in sig.bin and the public key in pub.pem (OpenSSL >= 3.0)::

    printf 'haven-sth-v1\\n' > sth.bin
    printf '%016x%016x%s' 5 1700000000000 ROOTHEX | xxd -r -p >> sth.bin
    openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in sth.bin -sigfile sig.bin
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
STH_PREFIX = b"haven-sth-v1\n"
_U64_LIMIT = 1 << 64


def leaf_hash(data: bytes) -> bytes:
    """Hash a leaf; the 0x00 prefix keeps leaves and interior nodes apart (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an interior node from its children's hashes (RFC 9162 §2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def leaf_hashes(leaves: Sequence[bytes]) -> list[bytes]:
    """``leaf_hash`` of each leaf, in one comprehension: an audit hashes millions."""
    sha256 = hashlib.sha256
    return [sha256(b"\x00" + data).digest() for data in leaves]


def parent_hashes(nodes: Sequence[bytes]) -> list[bytes]:
    """``node_hash`` of each pair ``(nodes[0], nodes[1])``, ``(nodes[2], nodes[3])``, …;
    an odd last node has no parent among them."""
    sha256 = hashlib.sha256
    return [
        sha256(b"\x01" + left + right).digest()
        for left, right in zip(nodes[0::2], nodes[1::2], strict=False)
    ]


@dataclass(frozen=True, order=True, slots=True)
class NodeID:
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index * 2**level``."""

    level: int
    index: int

    @property
    def begin(self) -> int:
        """First leaf covered."""
        return self.index << self.level

    @property
    def end(self) -> int:
        """One past the last leaf covered."""
        return (self.index + 1) << self.level

    def parent(self) -> NodeID:
        return NodeID(self.level + 1, self.index >> 1)

    def sibling(self) -> NodeID:
        return NodeID(self.level, self.index ^ 1)


NodeHashes: TypeAlias = Mapping[NodeID, bytes] | Sequence[bytes]
"""Fetched node hashes: keyed by ID, or listed in the plan's ``ids`` order."""


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _require_hash(value: object, what: str) -> None:
    if not _is_hash(value):
        raise ValueError(f"{what} must be {HASH_SIZE} bytes")


def range_ids(begin: int, end: int) -> list[NodeID]:
    """The fewest perfect nodes covering leaves ``[begin, end)``, left to right.

    Greedy: from ``begin`` take the largest subtree aligned there that still fits.
    """
    ids: list[NodeID] = []
    while begin < end:
        level = (end - begin).bit_length() - 1
        if begin:
            level = min(level, (begin & -begin).bit_length() - 1)
        ids.append(NodeID(level, begin >> level))
        begin += 1 << level
    return ids


def border_ids(size: int) -> list[NodeID]:
    """The perfect subtrees of a tree of ``size`` leaves, left to right (one per set bit)."""
    if size < 0:
        raise ValueError("size must be >= 0")
    return range_ids(0, size)


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Combine adjacent subtrees, listed left to right with decreasing sizes, into one root.

    RFC 9162 splits a tree at the largest power of two below its size, so the
    leftmost subtree joins everything to its right, recursively: fold from the right.
    """
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


def _resolve(ids: Sequence[NodeID], hashes: NodeHashes) -> list[bytes]:
    """Hashes in ``ids`` order, whether fetched as a mapping or as an ordered list."""
    if isinstance(hashes, Mapping):
        return [hashes[node] for node in ids]
    if len(hashes) != len(ids):
        raise ValueError(f"expected {len(ids)} hashes, got {len(hashes)}")
    return list(hashes)


def append_nodes(
    size: int, leaf: bytes, get: Callable[[NodeID], bytes]
) -> list[tuple[NodeID, bytes]]:
    """New perfect nodes created by appending leaf hash ``leaf`` as leaf number ``size``.

    Returns the leaf node followed by every parent it completes, bottom-up. Each
    parent needs its left sibling, read through ``get`` (bottom-up order); that is
    one read per trailing 1 bit of ``size``, so at most log2(size) reads.
    """
    if size < 0:
        raise ValueError("size must be >= 0")
    _require_hash(leaf, "leaf hash")
    node, value = NodeID(0, size), leaf
    created = [(node, value)]
    while node.index & 1:
        value = node_hash(get(node.sibling()), value)
        node = node.parent()
        created.append((node, value))
    return created


class CompactRange:
    """The right border of a tree: the hashes of its ``border_ids(size)`` subtrees.

    This O(log n) state is enough to append leaves and to compute the root, so a
    writer loads it once (``from_nodes``), appends a batch of leaves and stores
    all returned nodes together.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} border nodes")
        for value in hashes:
            _require_hash(value, "border hash")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_nodes(cls, size: int, get: Callable[[NodeID], bytes]) -> CompactRange:
        """Load the border of a stored tree: one ``get`` per ``border_ids(size)`` entry."""
        return cls(size, [get(node) for node in border_ids(size)])

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Border hashes in ``border_ids(size)`` order."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeID, bytes]]:
        """Append a leaf hash; return the new perfect nodes (see :func:`append_nodes`)."""
        created = append_nodes(self._size, leaf, self._pop_left_sibling)
        self._hashes.append(created[-1][1])
        self._size += 1
        return created

    def _pop_left_sibling(self, node: NodeID) -> bytes:
        """Serve ``append_nodes``: it asks for left siblings bottom-up, which is exactly
        the order the border pops in, and each one is absorbed into its new parent."""
        return self._hashes.pop()

    def root(self) -> bytes:
        return _fold_right(self._hashes)


def root_from_nodes(size: int, hashes: NodeHashes) -> bytes:
    """Root of a tree of ``size`` leaves from its fetched ``border_ids(size)`` hashes."""
    return CompactRange(size, _resolve(border_ids(size), hashes)).root()


@dataclass(frozen=True)
class ProofPlan:
    """How to build a proof from stored perfect nodes.

    ``ids`` are the nodes to fetch, in proof order. ``ids[fold_start:fold_stop]``
    (lowest level first) together cover one ephemeral node on the tree's right
    border; ``assemble`` rehashes them into that single proof element.
    """

    ids: tuple[NodeID, ...]
    fold_start: int = 0
    fold_stop: int = 0

    def assemble(self, hashes: NodeHashes) -> list[bytes]:
        """The proof, from hashes keyed by node ID or listed in ``ids`` order."""
        values = _resolve(self.ids, hashes)
        start, stop = self.fold_start, self.fold_stop
        if stop - start < 2:
            return values
        folded = values[start]
        for left in values[start + 1 : stop]:
            folded = node_hash(left, folded)
        return [*values[:start], folded, *values[stop:]]

    def _skip_first(self) -> ProofPlan:
        """Drop ``ids[0]``: the node being proven, which the verifier already has."""
        shift = 1 if self.fold_start < self.fold_stop else 0
        return ProofPlan(self.ids[1:], self.fold_start - shift, self.fold_stop - shift)


def _node_path_plan(node: NodeID, size: int) -> ProofPlan:
    """Nodes proving perfect ``node`` is in the tree of ``size`` leaves, ``node`` first.

    Up to the *fork*, the highest perfect ancestor of ``node``, the path needs
    the stored siblings. The fork's own sibling is cut off at ``size``: leaves
    ``[fork.end, size)``, which may take several perfect nodes (folded into one
    ephemeral proof element), one, or none when the fork ends at ``size``. The
    path ends with the perfect subtrees left of the fork, lowest level first.
    """
    inner = (node.index ^ (size >> node.level)).bit_length() - 1
    fork = NodeID(node.level + inner, node.index >> inner)
    ids = [node]
    while node.level < fork.level:
        ids.append(node.sibling())
        node = node.parent()
    fold_start = len(ids)
    ids.extend(reversed(range_ids(fork.end, size)))
    fold_stop = len(ids)
    ids.extend(reversed(range_ids(0, fork.begin)))
    if fold_stop - fold_start < 2:
        fold_start = fold_stop = 0
    return ProofPlan(tuple(ids), fold_start, fold_stop)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Plan the audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside tree of size {size}")
    return _node_path_plan(NodeID(0, index), size)._skip_first()


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """Plan the consistency proof from tree size ``size1`` to ``size2`` (RFC 9162 §2.1.4).

    The proof is the inclusion path, in the larger tree, of the largest perfect
    subtree ending at ``size1``, led by that subtree's hash unless it is the whole
    old tree (then the verifier already holds it as ``root1``). Empty when
    ``size1`` is 0 or equals ``size2``: nothing needs proving.
    """
    if not 0 <= size1 <= size2:
        raise ValueError(f"need 0 <= size1 <= size2, got {size1} and {size2}")
    if size1 in (0, size2):
        return ProofPlan(())
    level = (size1 & -size1).bit_length() - 1
    plan = _node_path_plan(NodeID(level, (size1 - 1) >> level), size2)
    return plan._skip_first() if size1 & (size1 - 1) == 0 else plan


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root implied by an audit path (RFC 9162 §2.1.3.2 steps 1-4).

    Raises ValueError when the proof cannot belong to that index and size.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside tree of size {size}")
    _require_hash(leaf, "leaf hash")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        _require_hash(p, "proof element")
        if sn == 0:
            raise ValueError("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("inclusion proof too short")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree ``(size, root)``.

    Never raises: malformed input is simply not a proof.
    """
    try:
        return root_from_inclusion_proof(leaf, index, size, proof) == root
    except ValueError:
        return False


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows tree ``(size1, root1)`` is a prefix of ``(size2, root2)``.

    RFC 9162 §2.1.4.2 covers ``0 < size1 < size2``. Beyond it: equal sizes need
    an empty proof and equal roots; the empty tree (root ``EMPTY_ROOT``) is a
    prefix of every tree, with an empty proof. Never raises: hashes are checked
    up front, so nothing malformed reaches the hashing.
    """
    if not (_is_hash(root1) and _is_hash(root2) and all(_is_hash(p) for p in proof)):
        return False
    if not 0 <= size1 <= size2:
        return False
    if size1 == 0:
        return not proof and root1 == EMPTY_ROOT
    if size1 == size2:
        return not proof and root1 == root2
    return _rfc_consistency(size1, size2, root1, root2, proof)


def _rfc_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, step by step, for ``0 < first < second``."""
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


class MemoryTree:
    """An in-memory log: a dict of perfect nodes driven by the same plans as a database.

    Used by the tests and by the offline verifier to recompute a log from its leaves.
    """

    def __init__(self) -> None:
        self._nodes: dict[NodeID, bytes] = {}
        self._border = CompactRange()

    @property
    def size(self) -> int:
        return self._border.size

    @property
    def nodes(self) -> Mapping[NodeID, bytes]:
        """Read-only view of every stored perfect node, e.g. to seed another store."""
        return MappingProxyType(self._nodes)

    def append(self, data: bytes) -> int:
        """Append leaf data; return its index."""
        index = self.size
        self._nodes.update(self._border.append(leaf_hash(data)))
        return index

    def root(self, size: int | None = None) -> bytes:
        """Root of the tree of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else self._check_size(size)
        return root_from_nodes(size, self._nodes)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Audit path of leaf ``index`` in the tree of the first ``size`` leaves."""
        return inclusion_plan(index, self._check_size(size)).assemble(self._nodes)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """Proof that the first ``size1`` leaves' tree is a prefix of the ``size2`` one."""
        return consistency_plan(size1, self._check_size(size2)).assemble(self._nodes)

    def _check_size(self, size: int) -> int:
        """Old sizes are fine: their perfect nodes are all still stored, unchanged."""
        if not 0 <= size <= self.size:
            raise ValueError(f"size {size} outside 0..{self.size}")
        return size


# Naive RFC 9162 definitions, transcribed from §2.1.1-§2.1.4 for the tests to
# cross-check the planned, store-backed computations above. O(n) per call.


def _split(n: int) -> int:
    """RFC 9162's k: the largest power of two smaller than ``n`` (``n`` > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def reference_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf data (RFC 9162 §2.1.1)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(leaves[0])
    k = _split(n)
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_inclusion(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("index outside tree")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*reference_inclusion(index, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_inclusion(index - k, leaves[k:]), reference_root(leaves[:k])]


def reference_consistency(size1: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 §2.1.4.1), for 0 < m <= n."""
    if not 0 < size1 <= len(leaves):
        raise ValueError("need 0 < size1 <= size2")
    return _reference_subproof(size1, leaves, True)


def _reference_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b); ``whole`` is b: D[0:m] is the old tree itself, not a subtree."""
    n = len(leaves)
    if m == n:
        return [] if whole else [reference_root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_reference_subproof(m, leaves[:k], whole), reference_root(leaves[k:])]
    return [*_reference_subproof(m - k, leaves[k:], False), reference_root(leaves[:k])]


@dataclass(frozen=True)
class TreeHead:
    """A tree head to sign: the log had ``size`` leaves with ``root`` at ``timestamp_ms``."""

    size: int
    root: bytes
    timestamp_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.size < _U64_LIMIT:
            raise ValueError("size must fit in an unsigned 64-bit integer")
        if not 0 <= self.timestamp_ms < _U64_LIMIT:
            raise ValueError("timestamp_ms must fit in an unsigned 64-bit integer")
        _require_hash(self.root, "root")

    def to_bytes(self) -> bytes:
        """The canonical signed encoding described in the module docstring."""
        return (
            STH_PREFIX
            + self.size.to_bytes(8, "big")
            + self.timestamp_ms.to_bytes(8, "big")
            + self.root
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TreeHead:
        """Parse ``to_bytes`` output, e.g. a head published next to its signature."""
        at = len(STH_PREFIX)
        if len(data) != at + 16 + HASH_SIZE or not data.startswith(STH_PREFIX):
            raise ValueError("not a haven-sth-v1 tree head")
        size = int.from_bytes(data[at : at + 8], "big")
        timestamp_ms = int.from_bytes(data[at + 8 : at + 16], "big")
        return cls(size=size, root=data[at + 16 :], timestamp_ms=timestamp_ms)


def sign_tree_head(head: TreeHead, private_key: Ed25519PrivateKey) -> bytes:
    """Ed25519 signature over ``head.to_bytes()``."""
    return private_key.sign(head.to_bytes())


def verify_tree_head(head: TreeHead, signature: bytes, public_key: Ed25519PublicKey) -> bool:
    """Whether ``signature`` is ``public_key``'s signature over ``head.to_bytes()``."""
    try:
        public_key.verify(signature, head.to_bytes())
    except InvalidSignature:
        return False
    return True
