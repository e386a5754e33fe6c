"""Ledger tasks (Celery beat, see CELERY_BEAT_SCHEDULE). Both are safe to run concurrently and
to repeat: the sequencer serialises itself on an advisory lock, verification only reads."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from apps.core import context

from . import sequencer
from .models import VerificationRun
from .verify import verify_ledger

log = logging.getLogger(__name__)


@shared_task(name="audit.sequence", ignore_result=True)
def sequence() -> int:
    """Beat, every 0.5 s: sequence committed events and sign a checkpoint. One indexed query when
    there is nothing new; returns at once when another sequencer holds the lock."""
    with context.acting_as(context.Actor(user_id=None, label="system:ledger_sequencer", kind="system")):
        return sequencer.sequence()


_VERIFIER = context.Actor(user_id=None, label="system:verify_ledger", kind="system")


def record_result(run: VerificationRun, result) -> None:
    """A verification's outcome is evidence too: it goes into the ledger it checked."""
    from apps import audit

    audit.record("audit.ledger.verify", run, after={"ok": result.ok, "tree_size": result.tree_size, "events": result.events,
                                                   "checkpoints": result.checkpoints, "message": result.message[:500],
                                                   "first_bad_event_id": result.first_bad_event_id})


def run_verification(trigger: str, run_id: int | None = None) -> VerificationRun:
    """Recompute the tree and store the result for the evidence page."""
    if run_id is None:
        run = VerificationRun.objects.create(started_at=timezone.now(), trigger=trigger)
    else:
        run = VerificationRun.objects.get(pk=run_id)
    result = verify_ledger()
    with transaction.atomic():
        VerificationRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), ok=result.ok, tree_size=result.tree_size, events_checked=result.events,
            checkpoints_checked=result.checkpoints, message=result.message, first_bad_event_id=result.first_bad_event_id,
        )
        record_result(run, result)
    if not result.ok:
        log.error("ledger verification failed: %s", result.message)
    run.refresh_from_db()
    return run


@shared_task(name="audit.verify_ledger", ignore_result=True)
def verify(run_id: int | None = None) -> bool:
    """Beat (hourly) or on request from the evidence page (with the id of a pending run)."""
    if run_id is not None and not VerificationRun.objects.filter(pk=run_id, finished_at__isnull=True).exists():
        return False  # already done (a redelivery) or gone
    with context.acting_as(_VERIFIER):
        return bool(run_verification("beat" if run_id is None else "ui", run_id).ok)
