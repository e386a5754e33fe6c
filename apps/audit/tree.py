"""The Merkle tree as stored: leaf hashes in ``audit_logentry``, complete subtrees above them in
``audit_treenode``. Reads for proofs and for extending the tree, and a streaming reader."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection

from . import merkle
from .merkle import Node


def node_hashes(nodes: Iterable[Node]) -> dict[Node, bytes]:
    """Hashes of stored nodes, two queries whatever their number. Missing nodes raise KeyError
    (a proof was asked beyond the stored tree)."""
    wanted = set(nodes)
    leaves = sorted(idx for lvl, idx in wanted if lvl == 0)
    inner = sorted((lvl, idx) for lvl, idx in wanted if lvl > 0)
    found: dict[Node, bytes] = {}
    with connection.cursor() as cur:
        if leaves:
            cur.execute("SELECT log_index, leaf_hash FROM audit_logentry WHERE log_index = ANY(%s)", [leaves])
            found.update(((0, i), bytes(h)) for i, h in cur.fetchall())
        if inner:
            cur.execute(
                "SELECT t.level, t.idx, t.hash FROM audit_treenode t"
                " JOIN unnest(%s::smallint[], %s::bigint[]) AS u(level, idx) ON t.level = u.level AND t.idx = u.idx",
                [[lvl for lvl, _ in inner], [idx for _, idx in inner]],
            )
            found.update(((lvl, idx), bytes(h)) for lvl, idx, h in cur.fetchall())
    missing = wanted - set(found)
    if missing:
        raise KeyError(f"tree nodes not stored: {sorted(missing)[:5]}")
    return found


def frontier(size: int) -> list[bytes]:
    nodes = merkle.frontier_nodes(size)
    found = node_hashes(nodes)
    return [found[n] for n in nodes]


def root_at(size: int) -> bytes:
    return merkle.fold(frontier(size))


def range_proof(start: int, end: int, size: int) -> tuple[list[bytes], list[bytes]]:
    """(right edge of [0, start), aligned subtrees of [end, size)): with the leaves of
    [start, end) they give the root of ``size`` (``tools.verify_export.root_from_range``)."""
    left_nodes, right_nodes = merkle.frontier_nodes(start), merkle.range_nodes(end, size)
    found = node_hashes([*left_nodes, *right_nodes])
    return [found[n] for n in left_nodes], [found[n] for n in right_nodes]


def inclusion_proof(index: int, size: int) -> list[bytes]:
    ranges = merkle.inclusion_ranges(index, size)
    return merkle.hashes_for(ranges, node_hashes(merkle.proof_nodes(ranges)))


def consistency_proof(first: int, second: int) -> list[bytes]:
    if first == second:
        return []
    ranges = merkle.consistency_ranges(first, second)
    return merkle.hashes_for(ranges, node_hashes(merkle.proof_nodes(ranges)))


def stream(sql: str, params: Sequence[Any] | dict, itersize: int = 5000) -> Iterator[tuple]:
    """Rows of ``sql`` through a server-side cursor (call inside ``transaction.atomic()``: a
    named cursor lives in a transaction). Memory stays flat whatever the row count."""
    if not connection.in_atomic_block:
        raise RuntimeError("tree.stream needs a transaction (wrap the caller in transaction.atomic())")
    connection.ensure_connection()
    with connection.connection.cursor(name=f"govhub_{uuid.uuid4().hex[:12]}") as cur:
        cur.itersize = itersize
        cur.execute(sql, params)
        yield from cur
