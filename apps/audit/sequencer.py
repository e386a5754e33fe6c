"""The sequencer: gives committed audit events their place in the Merkle tree, in batches, and
signs a checkpoint for each batch.

Writers insert events without any lock (``audit.record``). Event ids come from a sequence and
commit out of order, so "everything above the last id" would miss a slow transaction. Instead,
every event carries the id of the transaction that inserted it (``txid``), and a batch takes only
events whose transaction has certainly ended: ``txid`` below the oldest transaction still running
in this database (``_RUNNING_SQL``). Those are final — committed and visible, or rolled back for
good — so nothing is skipped and nothing is taken twice (``audit_logentry.event_id`` is unique
besides). A checkpoint remembers that bound as its ``watermark``, so a tick scans only newer
transactions. A long-running write transaction delays sequencing (never breaks it).

One sequencer at a time: ``pg_try_advisory_xact_lock``; a tick that finds it taken returns at
once. The tree grows in O(batch + log n): the right edge of the tree is read from the stored
complete subtrees, the new subtrees are written with COPY.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import checkpoints, keys, merkle, tree
from .leaf import SELECT_COLUMNS, leaf_bytes
from .models import Checkpoint

log = logging.getLogger(__name__)

SEQUENCER_LOCK = 0x676F7668_0001  # "govh" + 1
BATCH_SIZE = 20_000

# In (txid, id) order with a resume key: a catch-up over many events scans each row once (an index
# range scan on (txid, id)). The events below the bound are final, so the resume key is safe within
# one ``sequence()`` call; the caller's own transaction (a test, a command inside atomic()) may add
# events at any time, so those are taken by the second branch, without it.
_PENDING_SQL = f"""SELECT * FROM (
  (SELECT {SELECT_COLUMNS}, e.txid FROM audit_auditevent e
   WHERE e.txid >= %(watermark)s AND e.txid < %(xmin)s AND (e.txid, e.id) > (%(after_txid)s, %(after_id)s)
     AND NOT EXISTS (SELECT 1 FROM audit_logentry l WHERE l.event_id = e.id)
   ORDER BY e.txid, e.id LIMIT %(limit)s)
  UNION ALL
  (SELECT {SELECT_COLUMNS}, e.txid FROM audit_auditevent e
   WHERE e.txid = %(own)s AND NOT EXISTS (SELECT 1 FROM audit_logentry l WHERE l.event_id = e.id)
     AND NOT (e.txid >= %(watermark)s AND e.txid < %(xmin)s AND (e.txid, e.id) > (%(after_txid)s, %(after_id)s))
   ORDER BY e.id LIMIT %(limit)s)
) pending ORDER BY txid, id LIMIT %(limit)s
"""  # noqa: S608 (a constant column list, no input)


# The oldest transaction id still running *in this database* (other databases of the cluster
# cannot write our tables, so their long transactions must not stall the ledger). xmax is read
# first, in an earlier statement: a transaction with an id below it had its id before this query
# runs, so if it is still running it is listed here. backend_xid is 32-bit: widen it by its signed
# 32-bit distance from xmax (a running id may be just above xmax).
_RUNNING_SQL = """
SELECT min(%(xmax)s::bigint + ((x - (%(xmax)s::bigint & 4294967295) + 6442450944) %% 4294967296) - 2147483648)
FROM (
    SELECT backend_xid::text::bigint AS x FROM pg_stat_activity
    WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()
    UNION ALL
    SELECT transaction::text::bigint FROM pg_prepared_xacts WHERE database = current_database()
) running
"""


def _finished_below(cur, xmax: int) -> int:
    """Every transaction of this database with an id below the result has ended."""
    cur.execute("SELECT pg_stat_clear_snapshot()")
    cur.execute(_RUNNING_SQL, {"xmax": xmax})
    oldest = cur.fetchone()[0]
    return xmax if oldest is None else min(xmax, oldest)


@dataclass
class Batch:
    added: int
    tree_size: int
    more: bool
    seconds: float
    resume: tuple[int, int] = (0, 0)  # (txid, id) of the last event taken below the bound


def _copy(cur, sql: str, rows) -> None:
    with cur.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def sequence_batch(limit: int = BATCH_SIZE, after: tuple[int, int] = (0, 0)) -> Batch | None:
    """One batch in one transaction. None when another sequencer holds the lock. ``after``: the
    ``resume`` of the previous batch of the same ``sequence()`` call."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s), pg_snapshot_xmax(pg_current_snapshot())::text::bigint", [SEQUENCER_LOCK])
        locked, xmax = cur.fetchone()
        if not locked:
            return None
        xmin = _finished_below(cur, xmax)
        private, entry = keys.active()  # may register the key: that event joins this batch
        # Events of the caller's own transaction (a test, a command inside atomic()) commit or roll
        # back together with the tree, so they may be taken too.
        cur.execute("SELECT c.tree_size, c.watermark, pg_current_xact_id_if_assigned()::text::bigint FROM (SELECT 1) AS one"
                    " LEFT JOIN LATERAL (SELECT tree_size, watermark FROM audit_checkpoint ORDER BY tree_size DESC LIMIT 1) c ON true")
        size, watermark, own = cur.fetchone()
        size, watermark = size or 0, watermark or 0
        cur.execute(_PENDING_SQL, {"watermark": watermark, "xmin": xmin, "limit": limit, "own": -1 if own is None else own,
                                   "after_txid": after[0], "after_id": after[1]})
        rows = cur.fetchall()
        if not rows:
            return Batch(0, size, False, time.perf_counter() - started, after)
        below = [(row[-1], row[0]) for row in rows if row[-1] < xmin]
        resume = max(below) if below else after

        leaves = [merkle.leaf_hash(leaf_bytes(row[:-1], size + i)) for i, row in enumerate(rows)]
        created, edge, new_size = merkle.extend(size, tree.frontier(size), leaves)
        _copy(cur, "COPY audit_logentry (log_index, event_id, leaf_hash) FROM STDIN",
              ((size + i, row[0], leaves[i]) for i, row in enumerate(rows)))
        _copy(cur, "COPY audit_treenode (level, idx, hash) FROM STDIN", created)

        root = merkle.fold(edge)
        origin = settings.GOVHUB_LEDGER_ORIGIN
        note = checkpoints.sign(checkpoints.body(origin, new_size, root), entry.name, private, entry.raw_public_key)
        more = len(rows) == limit
        # A full batch may have left older transactions' events behind: keep the old bound. The
        # caller's own transaction may still add events (tests, commands inside atomic()): the
        # bound never passes its id.
        cur.execute("SELECT pg_current_xact_id()::text::bigint")
        own = cur.fetchone()[0]
        checkpoint = Checkpoint.objects.create(
            tree_size=new_size, root_hash=root, origin=origin, key=entry, note=note, created_at=timezone.now(),
            watermark=watermark if more else max(watermark, min(xmin, own)),
        )
        transaction.on_commit(lambda: checkpoints.publish(checkpoint))
    return Batch(len(rows), new_size, more, time.perf_counter() - started, resume)


def sequence(max_batches: int = 1000, limit: int = BATCH_SIZE) -> int:
    """Sequence everything committed so far; the number of events added."""
    total, after = 0, (0, 0)
    for _ in range(max_batches):
        batch = sequence_batch(limit, after)
        if batch is None or not batch.added:
            break
        total += batch.added
        after = batch.resume
        log.debug("ledger: sequenced %s events, tree size %s (%.0f ms)", batch.added, batch.tree_size, batch.seconds * 1000)
        if not batch.more:
            break
    return total
