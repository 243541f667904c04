"""storage.merkle against RFC 9162: published vectors, the naive RFC definitions,
tamper detection, and the O(log n) bound on nodes read per append or proof."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.merkle import (
    EMPTY_ROOT,
    STH_PREFIX,
    CompactRange,
    MemoryTree,
    NodeID,
    ProofPlan,
    TreeHead,
    append_nodes,
    border_ids,
    consistency_plan,
    inclusion_plan,
    leaf_hash,
    leaf_hashes,
    node_hash,
    parent_hashes,
    range_ids,
    reference_consistency,
    reference_inclusion,
    reference_root,
    root_from_inclusion_proof,
    root_from_nodes,
    sign_tree_head,
    verify_consistency,
    verify_inclusion,
    verify_tree_head,
)

# Copied from /work/shared/test-vectors/merkle-rfc9162.json (the transparency-dev/merkle
# reference constants) so the suite runs on a fresh CI machine.
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
VECTOR_ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]

# One shared log; every smaller size is a prefix of it, so roots and proofs of all
# sizes up to N come from the same node store, as they would from a database.
N = 1100
LEAVES = [b"evidence-%d" % i for i in range(N)]
TREE = MemoryTree()
for _data in LEAVES:
    TREE.append(_data)

BIG_SIZES = [(1 << k) + d for k in range(1, 11) for d in (-1, 0, 1)]
sizes = st.one_of(st.integers(1, 300), st.sampled_from(BIG_SIZES))
FAST = settings(max_examples=150, deadline=None)


def log_bound(n: int) -> int:
    """The O(log n) budget the brief fixes: 2 * ceil(log2(n)) + 2."""
    return 2 * max(n - 1, 0).bit_length() + 2


@cache
def ref_root(size: int) -> bytes:
    return reference_root(LEAVES[:size])


def flip(data: bytes, position: int, mask: int) -> bytes:
    """``data`` with one byte changed (``mask`` is non-zero)."""
    position %= len(data)
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


class CountingStore(dict[NodeID, bytes]):
    """A node store that counts reads, to check the O(log n) claims."""

    reads = 0

    def get_node(self, node: NodeID) -> bytes:
        self.reads += 1
        return self[node]


# Hashing and published vectors.


def test_hash_primitives_are_rfc9162() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()


@pytest.mark.parametrize("size", range(len(VECTOR_ROOTS)))
def test_vector_roots(size: int) -> None:
    tree = MemoryTree()
    for data in VECTOR_LEAVES[:size]:
        tree.append(data)
    compact = CompactRange()
    for data in VECTOR_LEAVES[:size]:
        compact.append(leaf_hash(data))
    assert tree.root() == VECTOR_ROOTS[size]
    assert compact.root() == VECTOR_ROOTS[size]
    assert reference_root(VECTOR_LEAVES[:size]) == VECTOR_ROOTS[size]


def test_every_prefix_root_matches_reference() -> None:
    for size in range(301):
        assert TREE.root(size) == ref_root(size)
    for size in BIG_SIZES:
        assert TREE.root(size) == ref_root(size)


# Appending: O(log n) reads, only new perfect nodes written.


def test_append_nodes_reads_log_n_and_never_rewrites() -> None:
    store = CountingStore()
    for size, data in enumerate(LEAVES[:600]):
        store.reads = 0
        created = append_nodes(size, leaf_hash(data), store.get_node)
        assert store.reads <= log_bound(size)
        ids = [node for node, _ in created]
        # Exactly the perfect nodes whose last leaf is the new one, bottom-up.
        assert ids == [NodeID(level, size >> level) for level in range(len(ids))]
        assert all(node.end == size + 1 for node in ids)
        assert not store.keys() & set(ids)
        store.update(created)
        assert root_from_nodes(size + 1, store) == TREE.root(size + 1)


@given(size=st.integers(0, N - 50), batch=st.integers(1, 50))
@FAST
def test_compact_range_loads_border_and_appends_batches(size: int, batch: int) -> None:
    store = CountingStore(TREE.nodes)
    compact = CompactRange.from_nodes(size, store.get_node)
    assert store.reads == size.bit_count() <= log_bound(size)
    assert compact.size == size and compact.root() == TREE.root(size)

    created = [
        pair for data in LEAVES[size : size + batch] for pair in compact.append(leaf_hash(data))
    ]
    assert dict(created) == {n: h for n, h in TREE.nodes.items() if size < n.end <= size + batch}
    assert compact.size == size + batch and compact.root() == TREE.root(size + batch)
    assert compact.hashes == tuple(TREE.nodes[n] for n in border_ids(size + batch))


def test_compact_range_rejects_wrong_border() -> None:
    for size, border, says in [
        (3, [EMPTY_ROOT], "a tree of size 3 has 2 border nodes"),
        (1, [b"short"], "border hash must be 32 bytes"),
        (-1, [EMPTY_ROOT], "size must be >= 0"),
    ]:
        with pytest.raises(ValueError) as refused:
            CompactRange(size, border)
        assert str(refused.value) == says
    with pytest.raises(ValueError) as short:
        append_nodes(0, b"short", TREE.nodes.__getitem__)
    assert str(short.value) == "leaf hash must be 32 bytes"
    with pytest.raises(ValueError) as negative:
        append_nodes(-1, EMPTY_ROOT, TREE.nodes.__getitem__)
    assert str(negative.value) == "size must be >= 0"


# Inclusion proofs.


@given(data=st.data(), size=sizes)
@FAST
def test_inclusion_proof_matches_rfc_and_verifies(data: st.DataObject, size: int) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = leaf_hash(LEAVES[index]), TREE.root(size)
    proof = TREE.inclusion_proof(index, size)
    assert proof == reference_inclusion(index, LEAVES[:size])
    assert verify_inclusion(leaf, index, size, proof, root)
    assert root_from_inclusion_proof(leaf, index, size, proof) == root

    plan = inclusion_plan(index, size)
    assert len(plan.ids) <= log_bound(size)
    assert plan.assemble([TREE.nodes[n] for n in plan.ids]) == proof


@given(
    data=st.data(),
    size=sizes,
    position=st.integers(0, 1 << 16),
    mask=st.integers(1, 255),
)
@FAST
def test_tampered_inclusion_fails(data: st.DataObject, size: int, position: int, mask: int) -> None:
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = leaf_hash(LEAVES[index]), TREE.root(size)
    proof = TREE.inclusion_proof(index, size)

    assert not verify_inclusion(flip(leaf, position, mask), index, size, proof, root)
    assert not verify_inclusion(leaf, index, size, proof, flip(root, position, mask))
    if proof:
        at = position % len(proof)
        bad = [*proof[:at], flip(proof[at], position // len(proof), mask), *proof[at + 1 :]]
        assert not verify_inclusion(leaf, index, size, bad, root)
        assert not verify_inclusion(leaf, index, size, proof[:-1], root)
    assert not verify_inclusion(leaf, index, size, [*proof, root], root)

    other_index = data.draw(st.integers(0, N - 1).filter(lambda i: i != index), label="other")
    assert not verify_inclusion(leaf, other_index, size, proof, root)
    # A proof only binds the size through the root it rebuilds: check other sizes
    # against their own roots (a size whose path has the same shape would
    # otherwise rebuild this root, exactly as RFC 9162 intends).
    other_size = data.draw(st.integers(1, N).filter(lambda s: s != size), label="other_size")
    assert not verify_inclusion(leaf, index, other_size, proof, TREE.root(other_size))


def test_inclusion_rejects_malformed_input_without_raising() -> None:
    leaf, proof, root = leaf_hash(LEAVES[2]), TREE.inclusion_proof(2, 5), TREE.root(5)
    assert verify_inclusion(leaf, 2, 5, proof, root)
    assert not verify_inclusion(leaf, 5, 5, proof, root)
    assert not verify_inclusion(leaf, -1, 5, proof, root)
    assert not verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(leaf[:31], 2, 5, proof, root)
    assert not verify_inclusion(leaf, 2, 5, proof, root[:31])
    assert not verify_inclusion(leaf, 2, 5, [proof[0][:31], *proof[1:]], root)
    assert not verify_inclusion(leaf, 2, 5, ["x" * 32, *proof[1:]], root)  # type: ignore[list-item]
    with pytest.raises(ValueError) as refused:
        inclusion_plan(5, 5)
    assert str(refused.value) == "leaf index 5 outside tree of size 5"


@pytest.mark.parametrize(
    ("index", "size", "change", "says"),
    [
        (5, 5, lambda leaf, proof: (leaf, proof), "leaf index 5 outside tree of size 5"),
        (2, 5, lambda leaf, proof: (leaf[:31], proof), "leaf hash must be 32 bytes"),
        (2, 5, lambda leaf, proof: (leaf, [b"x", *proof[1:]]), "proof element must be 32 bytes"),
        (2, 5, lambda leaf, proof: (leaf, [*proof, proof[0]]), "inclusion proof too long"),
        (2, 5, lambda leaf, proof: (leaf, proof[:-1]), "inclusion proof too short"),
    ],
)
def test_a_root_cannot_be_computed_from_a_malformed_proof_and_the_refusal_says_why(
    index: int,
    size: int,
    change: Callable[[bytes, list[bytes]], tuple[bytes, list[bytes]]],
    says: str,
) -> None:
    leaf, proof = change(leaf_hash(LEAVES[2]), TREE.inclusion_proof(2, 5))
    with pytest.raises(ValueError) as refused:
        root_from_inclusion_proof(leaf, index, size, proof)
    assert str(refused.value) == says


def test_single_leaf_tree_has_empty_proof() -> None:
    leaf = leaf_hash(LEAVES[0])
    assert TREE.inclusion_proof(0, 1) == []
    assert verify_inclusion(leaf, 0, 1, [], leaf)


# Consistency proofs.


@given(data=st.data(), size2=sizes)
@FAST
def test_consistency_proof_matches_rfc_and_verifies(data: st.DataObject, size2: int) -> None:
    size1 = data.draw(st.integers(0, size2), label="size1")
    root1, root2 = TREE.root(size1), TREE.root(size2)
    proof = TREE.consistency_proof(size1, size2)
    if size1 in (0, size2):
        assert proof == []
    else:
        assert proof == reference_consistency(size1, LEAVES[:size2])
    assert verify_consistency(size1, size2, root1, root2, proof)

    plan = consistency_plan(size1, size2)
    assert len(plan.ids) <= log_bound(size2)
    assert plan.assemble([TREE.nodes[n] for n in plan.ids]) == proof


@given(
    data=st.data(),
    size2=sizes.filter(lambda s: s > 1),
    position=st.integers(0, 1 << 16),
    mask=st.integers(1, 255),
)
@FAST
def test_tampered_consistency_fails(
    data: st.DataObject, size2: int, position: int, mask: int
) -> None:
    size1 = data.draw(st.integers(1, size2 - 1), label="size1")
    root1, root2 = TREE.root(size1), TREE.root(size2)
    proof = TREE.consistency_proof(size1, size2)

    assert not verify_consistency(size1, size2, flip(root1, position, mask), root2, proof)
    assert not verify_consistency(size1, size2, root1, flip(root2, position, mask), proof)
    at = position % len(proof)
    bad = [*proof[:at], flip(proof[at], position // len(proof), mask), *proof[at + 1 :]]
    assert not verify_consistency(size1, size2, root1, root2, bad)
    assert not verify_consistency(size1, size2, root1, root2, proof[:-1])
    assert not verify_consistency(size1, size2, root1, root2, [*proof, root2])
    assert not verify_consistency(size1, size2, root2, root1, proof)

    other1 = data.draw(st.integers(1, size2).filter(lambda s: s != size1), label="other1")
    assert not verify_consistency(other1, size2, TREE.root(other1), root2, proof)
    other2 = data.draw(st.integers(size1, N).filter(lambda s: s != size2), label="other2")
    assert not verify_consistency(size1, other2, root1, TREE.root(other2), proof)


def test_proof_for_a_shallower_tree_fails_for_a_deeper_size() -> None:
    """RFC step "compare sn to 0": the proof must reach the root of the claimed size."""
    root2, leaf0 = TREE.root(2), leaf_hash(LEAVES[0])
    assert verify_inclusion(leaf0, 0, 2, TREE.inclusion_proof(0, 2), root2)
    assert not verify_inclusion(leaf0, 0, 3, TREE.inclusion_proof(0, 2), root2)
    assert verify_consistency(1, 2, TREE.root(1), root2, TREE.consistency_proof(1, 2))
    assert not verify_consistency(1, 3, TREE.root(1), root2, TREE.consistency_proof(1, 2))


def test_consistency_edge_cases() -> None:
    root3, root5 = TREE.root(3), TREE.root(5)
    proof = TREE.consistency_proof(3, 5)
    assert verify_consistency(3, 5, root3, root5, proof)
    # Equal sizes: empty proof and equal roots.
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, root5, proof)
    assert not verify_consistency(5, 5, root3, root5, [])
    # From the empty tree: empty proof, and the old root must be the empty root.
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, root3, root5, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root5, proof)
    # Malformed: never raises.
    assert not verify_consistency(5, 3, root5, root3, proof)
    assert not verify_consistency(-1, 5, root3, root5, proof)
    assert not verify_consistency(3, 5, root3, root5, [])
    assert not verify_consistency(3, 5, root3[:31], root5, proof)
    # A malformed root is no tree: not even an empty proof ties anything to it.
    assert not verify_consistency(5, 5, b"", b"", [])
    assert not verify_consistency(5, 5, root5[:31], root5[:31], [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root5[:31], [])
    assert not verify_consistency(3, 5, root3, root5, [b"", *proof[1:]])
    with pytest.raises(ValueError):
        consistency_plan(5, 3)
    with pytest.raises(ValueError):
        TREE.consistency_proof(1, N + 1)


# Plans for huge trees: pure index arithmetic, checked without storing 2**60 leaves.


@cache
def uniform_node(level: int) -> bytes:
    """Hash of any perfect node of a tree whose leaves are all ``uniform_node(0)``.

    Such a tree is a consistent store of any size in O(1) per node, enough to check
    that plans for huge trees have the right shape and verify.
    """
    return (
        leaf_hash(b"")
        if level == 0
        else node_hash(uniform_node(level - 1), uniform_node(level - 1))
    )


class UniformStore(dict[NodeID, bytes]):
    def __missing__(self, node: NodeID) -> bytes:
        return uniform_node(node.level)


def check_plan_nodes(plan: ProofPlan, size: int) -> None:
    assert len(plan.ids) <= log_bound(size)
    assert len(set(plan.ids)) == len(plan.ids)
    assert all(node.end <= size for node in plan.ids)


huge = st.integers(1, 1 << 63)


@given(data=st.data(), size=huge)
@FAST
def test_huge_inclusion_plans_are_small_and_verify(data: st.DataObject, size: int) -> None:
    index = data.draw(st.one_of(st.integers(0, size - 1), st.just(size - 1)), label="index")
    plan = inclusion_plan(index, size)
    check_plan_nodes(plan, size)
    store = UniformStore()
    proof = plan.assemble(store)
    assert verify_inclusion(uniform_node(0), index, size, proof, root_from_nodes(size, store))


@given(data=st.data(), size2=huge)
@FAST
def test_huge_consistency_plans_are_small_and_verify(data: st.DataObject, size2: int) -> None:
    size1 = data.draw(st.integers(0, size2), label="size1")
    plan = consistency_plan(size1, size2)
    check_plan_nodes(plan, size2)
    store = UniformStore()
    roots = root_from_nodes(size1, store), root_from_nodes(size2, store)
    assert verify_consistency(size1, size2, *roots, plan.assemble(store))


def test_assemble_rejects_wrong_number_of_hashes() -> None:
    plan = inclusion_plan(3, 7)
    with pytest.raises(ValueError) as refused:
        plan.assemble([EMPTY_ROOT] * (len(plan.ids) + 1))
    assert str(refused.value) == f"expected {len(plan.ids)} hashes, got {len(plan.ids) + 1}"


def test_range_ids_cover_any_range_exactly_with_aligned_subtrees() -> None:
    for begin in range(40):
        for end in range(begin, 41):
            ids = range_ids(begin, end)
            covered = [leaf for node in ids for leaf in range(node.begin, node.end)]
            assert covered == list(range(begin, end)), (begin, end)
            assert len(ids) <= 2 * max(end - begin, 1).bit_length()  # the fewest, not leaves
    assert range_ids(1, 4) == [NodeID(0, 1), NodeID(1, 1)]


def test_the_border_is_one_perfect_subtree_per_set_bit() -> None:
    assert border_ids(0) == []
    assert border_ids(13) == [NodeID(3, 0), NodeID(2, 2), NodeID(0, 12)]
    with pytest.raises(ValueError) as refused:
        border_ids(-1)
    assert str(refused.value) == "size must be >= 0"


def test_memory_tree_append_returns_each_leafs_index() -> None:
    tree = MemoryTree()
    assert [tree.append(f"leaf {n}".encode()) for n in range(4)] == [0, 1, 2, 3]


def test_the_reference_consistency_proof_needs_a_non_empty_old_tree() -> None:
    # RFC 9162 defines PROOF(m, D[n]) for 0 < m <= n only; the tests rely on it refusing.
    leaves = [b"a", b"b", b"c"]
    for size1 in (0, 4):
        with pytest.raises(ValueError) as refused:
            reference_consistency(size1, leaves)
        assert str(refused.value) == "need 0 < size1 <= size2"


def test_the_reference_inclusion_path_refuses_an_index_outside_the_tree() -> None:
    leaves = [b"a", b"b", b"c"]
    for index in (-1, 3):
        with pytest.raises(ValueError) as refused:
            reference_inclusion(index, leaves)
        assert str(refused.value) == "index outside tree"


def test_a_consistency_plan_between_sizes_out_of_order_names_them() -> None:
    with pytest.raises(ValueError) as refused:
        consistency_plan(7, 5)
    assert str(refused.value) == "need 0 <= size1 <= size2, got 7 and 5"


def test_memory_tree_serves_its_latest_size() -> None:
    # The head a log signs is its latest size: proofs against it are the ones asked most.
    assert TREE.root(N) == TREE.root() == ref_root(N)
    last = leaf_hash(LEAVES[N - 1])
    assert verify_inclusion(last, N - 1, N, TREE.inclusion_proof(N - 1, N), TREE.root())
    assert verify_consistency(3, N, TREE.root(3), TREE.root(), TREE.consistency_proof(3, N))
    assert TREE.consistency_proof(N, N) == []


def test_memory_tree_rejects_sizes_it_does_not_have() -> None:
    for call in (
        lambda: TREE.root(N + 1),
        lambda: TREE.inclusion_proof(0, N + 1),
        lambda: TREE.root(-1),
    ):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError) as refused:
        TREE.consistency_proof(3, N + 1)
    assert str(refused.value) == f"size {N + 1} outside 0..{N}"


# Signed tree heads.

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROOT = bytes(range(32))


def test_tree_head_encoding_is_fixed() -> None:
    head = TreeHead(size=5, root=ROOT, timestamp_ms=1_700_000_000_000)
    encoded = head.to_bytes()
    assert encoded == (
        b"haven-sth-v1\n"
        + bytes.fromhex("0000000000000005")
        + bytes.fromhex("0000018bcfe56800")
        + ROOT
    )
    assert encoded.startswith(STH_PREFIX) and len(encoded) == 61
    assert TreeHead.from_bytes(encoded) == head


U64_TOO_BIG = 1 << 64
NOT_A_HEAD = "not a haven-sth-v1 tree head"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: TreeHead(size=-1, root=ROOT, timestamp_ms=0), "size must fit"),
        (lambda: TreeHead(size=U64_TOO_BIG, root=ROOT, timestamp_ms=0), "size must fit"),
        (lambda: TreeHead(size=0, root=ROOT, timestamp_ms=-1), "timestamp_ms must fit"),
        (lambda: TreeHead(size=0, root=ROOT, timestamp_ms=U64_TOO_BIG), "timestamp_ms must fit"),
        (lambda: TreeHead(size=0, root=ROOT[:31], timestamp_ms=0), "root must be 32 bytes"),
        (lambda: TreeHead.from_bytes(b"haven-sth-v2\n" + bytes(48)), NOT_A_HEAD),
        (lambda: TreeHead.from_bytes(STH_PREFIX + bytes(47)), NOT_A_HEAD),
    ],
)
def test_invalid_tree_heads_are_refused_saying_what_is_wrong(
    make: Callable[[], TreeHead], says: str
) -> None:
    # The words reach a bundle's reader: `haven verify` refuses with "sth.bin: <this>".
    with pytest.raises(ValueError) as refused:
        make()
    assert str(refused.value).startswith(says)


def test_the_largest_size_and_timestamp_round_trip() -> None:
    head = TreeHead(size=U64_TOO_BIG - 1, root=ROOT, timestamp_ms=U64_TOO_BIG - 1)
    assert TreeHead.from_bytes(head.to_bytes()) == head


@given(
    size=st.integers(0, (1 << 64) - 1),
    timestamp_ms=st.integers(0, (1 << 64) - 1),
    root=st.binary(min_size=32, max_size=32),
    position=st.integers(0, 60),
    mask=st.integers(1, 255),
)
@settings(max_examples=50, deadline=None)
def test_signed_tree_head_round_trip_and_tamper(
    size: int, timestamp_ms: int, root: bytes, position: int, mask: int
) -> None:
    head = TreeHead(size=size, root=root, timestamp_ms=timestamp_ms)
    signature = sign_tree_head(head, KEY)
    public = KEY.public_key()
    assert verify_tree_head(head, signature, public)
    assert verify_tree_head(TreeHead.from_bytes(head.to_bytes()), signature, public)

    tampered = flip(head.to_bytes(), len(STH_PREFIX) + position % 48, mask)
    assert not verify_tree_head(TreeHead.from_bytes(tampered), signature, public)
    assert not verify_tree_head(head, flip(signature, position, mask), public)
    assert not verify_tree_head(head, signature[:-1], public)
    other = Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()
    assert not verify_tree_head(head, signature, other)


def test_assemble_accepts_any_sequence() -> None:
    """``assemble`` takes any sequence, e.g. a tuple straight from a database row."""
    plan = inclusion_plan(0, 2)
    hashes: Sequence[bytes] = tuple(TREE.nodes[n] for n in plan.ids)
    assert plan.assemble(hashes) == TREE.inclusion_proof(0, 2)


# ---- the audit's batch hashing ----------------------------------------------------------


@given(st.lists(st.binary(max_size=64), max_size=70))
def test_batch_hashes_are_the_single_ones(leaves: list[bytes]) -> None:
    hashed = leaf_hashes(leaves)
    assert hashed == [leaf_hash(data) for data in leaves]
    pairs = zip(hashed[0::2], hashed[1::2], strict=False)
    assert parent_hashes(hashed) == [node_hash(left, right) for left, right in pairs]


@pytest.mark.parametrize("level", range(6))
def test_batch_hashes_fold_a_perfect_tree_to_its_root(level: int) -> None:
    leaves = [b"leaf-%d" % n for n in range(1 << level)]
    nodes = leaf_hashes(leaves)
    while len(nodes) > 1:
        nodes = parent_hashes(nodes)
    assert nodes == [reference_root(leaves)]
