"""Constraint recomputation is queued after commit, once per transaction, for the graph nodes
whose upstream changed (the task recomputes them and everything downstream of them)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from django.db import transaction

log = logging.getLogger(__name__)
_pending = threading.local()


def _flush() -> None:
    nodes = getattr(_pending, "nodes", None)
    if not nodes:
        return
    _pending.nodes = set()
    from workers.lineage_tasks import recompute_constraints

    try:
        recompute_constraints.delay(sorted(nodes))
    except Exception:  # the broker is down: the change is committed; the daily full recompute catches up
        log.exception("could not queue the recomputation of %s lineage nodes", len(nodes))


def schedule_recompute(node_ids: Iterable[int]) -> None:
    """Queue a recomputation of these nodes' constraints and their downstream closure after the
    current transaction commits (at once outside one). Calls within a transaction share one task."""
    ids = {int(n) for n in node_ids if n}
    if not ids:
        return
    nodes = getattr(_pending, "nodes", None)
    if nodes is None:
        nodes = _pending.nodes = set()
    nodes.update(ids)
    transaction.on_commit(_flush, robust=True)
