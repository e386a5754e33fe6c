"""Stream the covered log range into the bundle: ``events.jsonl`` (in-scope leaves, exactly the
bytes the tree hashed) and ``omitted.txt`` (index and leaf hash of out-of-scope entries inside
the range, so the verifier can still rebuild the root without seeing other projects' events).

Rows are read in keyset-paginated chunks of the log (the tables are insert-only, so chunks are
consistent without holding a transaction open), each leaf is rebuilt from its event row and
checked against the stored leaf hash, and the root is recomputed on the fly: an export of a
tampered ledger fails instead of shipping. Memory stays flat whatever the range.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection

from apps.audit import merkle, tree
from apps.audit.leaf import SELECT_COLUMNS, leaf_bytes
from tools.verify_export import CompactRange

from ..scope import Scope
from .writer import ZipBundle

CHUNK = 5000
MAX_ALL_PROOFS = 1000  # up to this many in-scope events each get an inclusion proof
SAMPLE_PROOFS = 256  # beyond that: first, last and this many evenly spaced


class ExportError(RuntimeError):
    pass


@dataclass
class RangeResult:
    start: int
    end: int
    tree_size: int
    left: list[bytes]
    right: list[bytes]
    events: int = 0
    omitted: int = 0
    root: bytes = b""
    samples: list[tuple[int, int, bytes]] = field(default_factory=list)  # (log index, event id, leaf hash)
    first_time: str | None = None
    last_time: str | None = None


def plan(scope: Scope, tree_size: int) -> tuple[int, int, int]:
    """(start, end, in-scope count) of the smallest log range holding every in-scope event."""
    cond, params = scope.sql("e")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT min(l.log_index), max(l.log_index), count(*) FROM audit_logentry l"  # noqa: S608 (built from constants)
            f" JOIN audit_auditevent e ON e.id = l.event_id WHERE l.log_index < %(tree_size)s AND {cond}",
            {**params, "tree_size": tree_size},
        )
        lo, hi, count = cur.fetchone()
    if not count:
        return tree_size, tree_size, 0
    return lo, hi + 1, count


def write(bundle: ZipBundle, scope: Scope, start: int, end: int, tree_size: int, in_scope_total: int,
          progress: Callable[[int], None]) -> RangeResult:
    left, right = tree.range_proof(start, end, tree_size)
    result = RangeResult(start, end, tree_size, left, right)
    cr = CompactRange(start, left)
    with tempfile.TemporaryFile() as omitted:
        with bundle.stream("events.jsonl") as out:
            _copy_range(result, cr, out, omitted, scope, in_scope_total, progress)
        bundle.add_fileobj("omitted.txt", omitted)
    levels = [lvl for lvl, _ in merkle.range_nodes(end, tree_size)]
    for lvl, h in zip(levels, right, strict=True):
        cr.append(h, lvl)
    result.root = cr.root()
    return result


def _damaged(index: int) -> ExportError:
    return ExportError(f"log index {index} has no event: the ledger is damaged (run manage.py audit_verify)")


def _copy_range(result: RangeResult, cr: CompactRange, out, omitted, scope: Scope, in_scope_total: int,
                progress: Callable[[int], None]) -> None:
    step = 1 if in_scope_total <= MAX_ALL_PROOFS else max(1, in_scope_total // SAMPLE_PROOFS)
    cond, params = scope.sql("e")
    sql = (f"SELECT l.log_index, l.leaf_hash, ({cond}) AS in_scope, {SELECT_COLUMNS}"  # noqa: S608 (built from constants)
           " FROM audit_logentry l JOIN audit_auditevent e ON e.id = l.event_id"
           " WHERE l.log_index >= %(lo)s AND l.log_index < %(hi)s ORDER BY l.log_index LIMIT %(chunk)s")
    expected, end = result.start, result.end
    while expected < end:
        with connection.cursor() as cur:
            cur.execute(sql, {**params, "lo": expected, "hi": end, "chunk": CHUNK})
            rows = cur.fetchall()
        if not rows:
            raise _damaged(expected)
        for row in rows:
            index, stored, in_scope = row[0], bytes(row[1]), row[2]
            if index != expected:
                raise _damaged(expected)
            if in_scope:
                line = leaf_bytes(row[3:], index)
                if merkle.leaf_hash(line) != stored:
                    raise ExportError(f"audit event {row[3]} (log index {index}) does not match its leaf hash: the ledger "
                                      "was tampered with (run manage.py audit_verify)")
                out.write(line)
                out.write(b"\n")
                if result.events % step == 0 or result.events == in_scope_total - 1:
                    result.samples.append((index, row[3], stored))
                if result.first_time is None:
                    result.first_time = row[4]
                result.last_time = row[4]
                result.events += 1
            else:
                omitted.write(f"{index} {stored.hex()}\n".encode())
                result.omitted += 1
            cr.append(stored)
            expected += 1
        progress(expected - result.start)
