"""RFC 6962 / RFC 9162 Merkle tree arithmetic: pure functions, no database, no Django.

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``. A node is named
``(level, index)``: it covers leaves ``[index * 2**level, (index + 1) * 2**level)``. Level 0 nodes
are leaf hashes. Only *complete* (power-of-two, aligned) subtrees are ever stored; the hash of any
other range that a proof needs is folded from at most ``2 log n`` of them.

Proof *verification* lives in ``tools/verify_export.py`` (self-contained: a regulator runs that
one file); it is re-exported here so that the app and the verifier share one implementation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from tools.verify_export import (  # noqa: F401  (re-exported: one implementation, shared with the offline verifier)
    EMPTY_ROOT,
    CompactRange,
    VerificationError,
    frontier_nodes,
    range_nodes,
    root_from_range,
    verify_consistency,
    verify_inclusion,
)

Node = tuple[int, int]  # (level, index)
RangeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where RFC 6962 splits a tree."""
    if n < 2:
        raise ValueError("a tree of fewer than 2 leaves has no split point")
    return 1 << ((n - 1).bit_length() - 1)


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its aligned subtrees, left to right, sizes strictly decreasing:
    ``H(h0, H(h1, H(h2, …)))``."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[0:n]) of a list of leaf hashes, by the RFC's recursive definition."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = split_point(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


# --- node arithmetic ---------------------------------------------------------------------------


def foldable_range_nodes(start: int, end: int) -> list[Node]:
    """``range_nodes`` for a range that RFC 6962 hashes as the fold of its aligned subtrees (every
    range an inclusion or consistency proof contains); anything else is a programming error."""
    nodes = range_nodes(start, end)
    levels = [lvl for lvl, _ in nodes]
    if any(a <= b for a, b in zip(levels, levels[1:], strict=False)):
        raise ValueError(f"range [{start}, {end}) is not a subtree range of an RFC 6962 tree")
    return nodes


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PATH(index, D[0:size]), in proof order."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    out: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo = lo + k
    out.reverse()
    return out


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PROOF(first, D[0:second]) (RFC 6962 §2.1.2)."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    out: list[tuple[int, int]] = []
    m, lo, hi, complete = first, 0, second, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            break
        k = split_point(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            m, lo, complete = m - k, lo + k, False
    out.reverse()
    return out


def proof_nodes(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    needed: set[Node] = set()
    for a, b in ranges:
        needed.update(foldable_range_nodes(a, b))
    return needed


def hashes_for(ranges: Sequence[tuple[int, int]], nodes: dict[Node, bytes]) -> list[bytes]:
    return [fold([nodes[n] for n in foldable_range_nodes(a, b)]) for a, b in ranges]


# --- proofs over an in-memory list (tests, small trees) -----------------------------------------


def _memory_nodes(leaf_hashes: Sequence[bytes], needed: Iterable[Node]) -> dict[Node, bytes]:
    return {(lvl, idx): root(leaf_hashes[idx << lvl:(idx + 1) << lvl]) for lvl, idx in needed}


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int | None = None) -> list[bytes]:
    size = len(leaf_hashes) if size is None else size
    ranges = inclusion_ranges(index, size)
    return hashes_for(ranges, _memory_nodes(leaf_hashes, proof_nodes(ranges)))


def consistency_proof(leaf_hashes: Sequence[bytes], first: int, second: int | None = None) -> list[bytes]:
    second = len(leaf_hashes) if second is None else second
    ranges = consistency_ranges(first, second)
    return hashes_for(ranges, _memory_nodes(leaf_hashes, proof_nodes(ranges)))


# --- extending a tree ----------------------------------------------------------------------------


def extend(size: int, frontier: Sequence[bytes], new_leaves: Iterable[bytes]) -> tuple[list[tuple[int, int, bytes]], list[bytes], int]:
    """Append leaves to a tree of ``size`` whose right edge (``frontier_nodes(size)``, largest
    first) has hashes ``frontier``. Returns the complete nodes above level 0 that became complete
    ``[(level, index, hash)]``, the new right edge and the new size: O(log n) state, O(k) work."""
    stack: list[tuple[int, bytes]] = [(lvl, h) for (lvl, _), h in zip(frontier_nodes(size), frontier, strict=True)]
    created: list[tuple[int, int, bytes]] = []
    n = size
    for leaf in new_leaves:
        level, h, pos = 0, leaf, n
        while stack and stack[-1][0] == level:
            _, left = stack.pop()
            h = node_hash(left, h)
            level += 1
            pos >>= 1
            created.append((level, pos, h))
        stack.append((level, h))
        n += 1
    return created, [h for _, h in stack], n
