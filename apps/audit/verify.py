"""Recompute the whole tree from the events table and compare it with what was signed.

Streams ``audit_logentry`` joined to ``audit_auditevent`` in log order through a server-side
cursor (memory stays flat), rebuilds each leaf from the event row, and checks, in this order:

- log indices are contiguous from 0;
- the event each entry names still exists (a deleted event is named);
- the leaf rebuilt from the row equals the stored leaf hash (a changed or swapped row is named);
- at every checkpoint size, the recomputed root equals the signed root and the signature verifies
  with a registered key (this catches a rewrite of ``audit_logentry`` itself, and bounds where);
- no checkpoint claims more leaves than the log holds;
- no committed event older than the newest checkpoint's watermark was left out of the tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection, transaction

from tools.verify_export import CompactRange, parse_checkpoint, split_note, verify_note

from . import keys, merkle
from .leaf import EVENT_COLUMNS, SELECT_COLUMNS, leaf_bytes

_ENTRIES_SQL = f"""SELECT l.log_index, l.event_id, l.leaf_hash, e.id IS NOT NULL, {SELECT_COLUMNS}
FROM audit_logentry l LEFT JOIN audit_auditevent e ON e.id = l.event_id
ORDER BY l.log_index
"""  # noqa: S608 (a constant column list, no input)
_CHECKPOINTS_SQL = "SELECT tree_size, root_hash, note FROM audit_checkpoint ORDER BY tree_size"


@dataclass
class Result:
    ok: bool
    message: str
    tree_size: int = 0
    events: int = 0
    checkpoints: int = 0
    first_bad_event_id: int | None = None
    first_bad_index: int | None = None
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)


class _Failure(Exception):
    def __init__(self, message: str, event_id: int | None = None, index: int | None = None):
        super().__init__(message)
        self.event_id, self.index = event_id, index


def verify_ledger(progress: Callable[[int], None] | None = None, itersize: int = 5000) -> Result:
    from .tree import stream

    started = time.perf_counter()
    ring = keys.keyring()
    events = checked = 0
    cr = CompactRange()
    n_cols = len(EVENT_COLUMNS)
    failure: _Failure | None = None
    with transaction.atomic():
        cps = stream(_CHECKPOINTS_SQL, [], itersize=1000)
        entries = stream(_ENTRIES_SQL, [], itersize=itersize)
        try:
            next_cp = next(cps, None)
            last_good = 0
            for row in entries:
                index, event_id, stored, exists = row[0], row[1], bytes(row[2]), row[3]
                if index != events:
                    raise _Failure(f"log index {events} is missing from audit_logentry (the next entry is {index})", index=events)
                if not exists:
                    raise _Failure(f"event {event_id} (log index {index}) is missing from audit_auditevent: it was deleted "
                                   "after it was sequenced", event_id, index)
                event_row = row[4:4 + n_cols]
                if merkle.leaf_hash(leaf_bytes(event_row, index)) != stored:
                    raise _Failure(f"event {event_id} (log index {index}) does not match its leaf hash: the row was changed, "
                                   "or swapped with another, after it was sequenced", event_id, index)
                cr.append(stored)
                events += 1
                while next_cp is not None and next_cp[0] == events:
                    _check_checkpoint(next_cp, cr.root(), ring, last_good)
                    checked += 1
                    last_good = events
                    next_cp = next(cps, None)
                if progress and events % 50_000 == 0:
                    progress(events)
            if next_cp is not None:
                raise _Failure(f"checkpoint {next_cp[0]} is signed for {next_cp[0]} leaves but the log holds only {events}: "
                               "log entries were removed")
            _check_unsequenced()
        except _Failure as fail:
            failure = fail
        finally:  # close the server-side cursors while their transaction is still open
            entries.close()
            cps.close()
    if failure is not None:
        return Result(False, f"FAILED: {failure}", events, events, checked, failure.event_id, failure.index, time.perf_counter() - started)
    message = f"OK: {events} events, {checked} signed checkpoints, root {cr.root().hex()}"
    return Result(True, message, events, events, checked, seconds=time.perf_counter() - started)


def _check_checkpoint(cp: tuple, computed: bytes, ring: dict, last_good: int) -> None:
    size, root, note = cp[0], bytes(cp[1]), cp[2]
    if computed != root:
        raise _Failure(f"the root recomputed at tree size {size} differs from the signed checkpoint: audit_logentry "
                       f"was rewritten somewhere in log indices {last_good}..{size - 1}")
    try:
        verify_note(note, ring)
        _origin, note_size, note_root = parse_checkpoint(split_note(note)[0])
    except ValueError as exc:
        raise _Failure(f"checkpoint {size}: {exc}")
    if note_size != size or note_root != root:
        raise _Failure(f"checkpoint {size}: the signed note says size {note_size}, root {note_root.hex()}")


def _check_unsequenced() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT watermark FROM audit_checkpoint ORDER BY tree_size DESC LIMIT 1")
        row = cur.fetchone()
        if row is None:
            return
        cur.execute("SELECT e.id FROM audit_auditevent e WHERE e.txid < %s"
                    " AND NOT EXISTS (SELECT 1 FROM audit_logentry l WHERE l.event_id = e.id) ORDER BY e.id LIMIT 1", [row[0]])
        missing = cur.fetchone()
    if missing:
        raise _Failure(f"event {missing[0]} was committed before the last checkpoint's watermark but is not in the tree",
                       missing[0])
