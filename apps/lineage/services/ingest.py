"""Ingestion: validate, normalize and store a list of OpenLineage events in one transaction.

Per event the result is ``created``, ``duplicate`` (the same canonical event was stored before:
nothing changes) or ``failed`` (with field paths; nothing of it is stored). The bulk of the work is
one statement per table for the whole list; only events that create assets or bring changed
dataset facets take the per-event path, each in a savepoint so that one bad event does not undo
the others. One audit event records the call.

Round trips for a call whose jobs and datasets are known: one pipelined lookup, one write statement,
one audit insert (plus BEGIN and COMMIT), whatever the number of events."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.utils import timezone

from apps import audit

from .. import scheduling
from ..validation import check_event
from ..validation.facets import canonical_by_id
from . import store
from .assets import AssetResolver, asset_keys
from .context import IngestContext
from .jobs import ensure_jobs
from .normalize import Event, EventRejected, normalize

log = logging.getLogger(__name__)
RETRIES = 3


@dataclass
class Outcome:
    index: int
    status: str = "failed"  # created | duplicate | failed
    raw_id: int | None = None
    fields: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    forbidden: bool = False
    event: Event | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def reason(self) -> str:
        return "; ".join(f"{k}: {v[0]}" if k != "non_field_errors" else v[0] for k, v in self.fields.items())


def _error_fields(exc: Exception, prefix: str) -> dict[str, list[str]]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return {f"{prefix}.{k}" if prefix else k: [m for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    if isinstance(exc, ValidationError):
        return {prefix or "non_field_errors": list(exc.messages)}
    return {prefix or "non_field_errors": [str(exc) or type(exc).__name__]}


def prepare(payloads: list[Any]) -> tuple[list[Outcome], list[Event]]:
    """Validation and normalization, no database writes: (an outcome per payload, the events to store)."""
    canonical_by_id.clear()
    outcomes = [Outcome(index=i) for i in range(len(payloads))]
    events: list[Event] = []
    first: dict[bytes, int] = {}
    for i, payload in enumerate(payloads):
        checked = check_event(payload)
        if not checked.ok:
            outcomes[i].fields = checked.fields()
            continue
        try:
            event = normalize(checked, i)
        except EventRejected as exc:
            outcomes[i].fields = exc.fields
            continue
        outcomes[i].event = event
        if event.digest in first:  # the same event twice in one call: the second is a repeat
            outcomes[i].status = "duplicate"
            continue
        first[event.digest] = i
        events.append(event)
    return outcomes, events


def ingest(payloads: list[Any], *, user: Any, project_id: int, project_slug: str = "") -> list[Outcome]:
    outcomes, events = prepare(payloads)
    for attempt in range(RETRIES):
        try:
            with transaction.atomic():
                _store(events, outcomes, IngestContext(project_id=project_id, project_slug=project_slug, user=user, now=timezone.now()))
            break
        except OperationalError as exc:  # deadlock or serialization failure between concurrent writers
            if attempt == RETRIES - 1 or getattr(getattr(exc, "__cause__", None), "sqlstate", "") not in ("40P01", "40001"):
                raise
            log.warning("lineage ingestion retried after %s", exc)
            for event in events:
                outcome = outcomes[event.index]
                outcome.status, outcome.warnings, outcome.fields, outcome.forbidden = "failed", [], {}, False
    by_digest = {o.event.digest: o for o in outcomes if o.event is not None and o.status != "duplicate"}
    for outcome in outcomes:  # in-call repeats share the first one's row
        if outcome.status == "duplicate" and outcome.raw_id is None and outcome.event is not None:
            first = by_digest.get(outcome.event.digest)
            outcome.raw_id = first.raw_id if first else None
            if first is not None and not first.ok:
                outcome.status, outcome.fields = "failed", first.fields
    return outcomes


def _store(events: list[Event], outcomes: list[Outcome], ctx: IngestContext) -> None:
    if not events:
        return
    wanted = asset_keys(events)
    found = store.lookup(events, wanted, ctx)
    for event in events:
        if event.digest in found.raw:  # stored before: nothing changes
            outcomes[event.index].status, outcomes[event.index].raw_id = "duplicate", found.raw[event.digest]
    fresh = [e for e in events if e.digest not in found.raw]
    if not fresh:
        return
    job_ids = ensure_jobs(fresh, found.jobs, ctx)
    resolver = AssetResolver(ctx, found.assets, wanted)
    resolver.job_ids = job_ids
    extra_inputs: dict[int, list[int]] = {}
    ok: list[Event] = []
    working = [event for event in fresh if resolver.needs_work(event)]
    needing = {event.index for event in working}
    if working:
        # Concurrent calls applying facets to the same assets take these locks in one global order
        # (asset id) before touching any row, so they wait for each other instead of deadlocking.
        store.lock_assets(resolver.pending_assets(working))
    for event in fresh:
        if event.index in needing:
            try:
                with transaction.atomic():  # a savepoint: a bad event takes nothing of the others with it
                    extra_inputs[event.index] = resolver.prepare(event)
            except (ValidationError, PermissionDenied, IntegrityError) as exc:
                outcomes[event.index].fields = _error_fields(exc, "")
                outcomes[event.index].forbidden = isinstance(exc, PermissionDenied)
                resolver = _reload(resolver, fresh, ctx, wanted)
                continue
        ok.append(event)
    io: list[tuple[bytes, int, str]] = []
    edges: list[tuple[bytes, int, int]] = []
    for event in ok:
        if not event.has_job:
            continue
        job_node = -job_ids[(event.job_namespace, event.job_name)]
        inputs = [resolver.get(r.key).id for r in event.inputs]
        outputs = [resolver.get(r.key).id for r in event.outputs]
        edges += [(event.digest, a, job_node) for a in inputs + extra_inputs.get(event.index, [])]
        edges += [(event.digest, job_node, a) for a in outputs]
        if event.kind == "run":
            io += [(event.digest, a, "in") for a in inputs] + [(event.digest, a, "out") for a in outputs]
    written = store.write(ok, job_ids, io, edges, ctx) if ok else store.Written({}, [])
    ctx.changed_nodes.update(dst for _, dst in written.new_edges)
    stored = [e for e in ok if e.digest in written.raw_ids]
    for event in stored:
        outcome = outcomes[event.index]
        outcome.status, outcome.raw_id, outcome.warnings = "created", written.raw_ids[event.digest], event.warnings
    raced = [e for e in ok if e.digest not in written.raw_ids]  # stored by a concurrent request meanwhile
    if raced:
        for digest, raw_id in store.lookup(raced, set(), ctx).raw.items():
            for event in raced:
                if event.digest == digest:
                    outcomes[event.index].status, outcomes[event.index].raw_id = "duplicate", raw_id
    if stored:
        _audit(stored, written.raw_ids, ctx, len(written.new_edges))
    scheduling.schedule_recompute(ctx.changed_nodes)


def _reload(resolver: AssetResolver, events: list[Event], ctx: IngestContext, wanted: set[tuple[str, str]]) -> AssetResolver:
    """After a savepoint rolled back, forget what it created: resolve again from the database."""
    fresh = AssetResolver(ctx, store.lookup(events, wanted, ctx).assets, wanted)
    fresh.job_ids = resolver.job_ids
    return fresh


def _audit(events: list[Event], raw_ids: dict[bytes, int], ctx: IngestContext, new_edges: int) -> None:
    ids = sorted(raw_ids[e.digest] for e in events)
    if len(events) == 1:
        event = events[0]
        extra = {"digest": event.digest.hex(), "kind": event.kind, "event_type": event.event_type,
                 "job": f"{event.job_namespace}/{event.job_name}" if event.has_job else "",
                 "run": str(event.run_uuid) if event.run_uuid else "", "new_edges": new_edges}
        action = "lineage.event.ingest"
    else:
        batch = hashlib.sha256(b"".join(sorted(e.digest for e in events))).hexdigest()
        extra = {"events": len(events), "first_id": ids[0], "last_id": ids[-1], "batch_digest": batch, "new_edges": new_edges}
        action = "lineage.batch.ingest"
    audit.record(action, object_type="lineage.rawevent", object_id=ids[0],
                 object_repr=f"{len(events)} OpenLineage event(s)", project_id=ctx.project_id, extra=extra)


__all__ = ["DatabaseError", "Outcome", "ingest", "prepare"]
