"""Lineage tasks: keep the materialized effective constraints current. They take ids, run as a
system actor, and write only derived rows (``lineage_effectiveconstraint``), newest computation
winning, so they may run twice or out of order without harm."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from apps.catalog.models import Asset
from apps.core import context
from apps.lineage import constraints

log = logging.getLogger(__name__)


def _system(task_name: str) -> context.Actor:
    return context.Actor(user_id=None, label=f"system:{task_name}", kind="system")


@shared_task(name="lineage.recompute_constraints", ignore_result=True, acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def recompute_constraints(node_ids: list[int]) -> int:
    """Recompute the assets among ``node_ids`` (graph nodes: assets > 0, jobs < 0) and everything
    downstream of them."""
    with context.acting_as(_system("recompute_constraints")):
        stored = constraints.recompute_downstream([int(n) for n in node_ids])
    log.info("lineage: recomputed constraints of %s assets from %s changed nodes", stored, len(node_ids))
    return stored


@shared_task(name="lineage.recompute_for_consent", ignore_result=True, acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def recompute_for_consent(consent_id: int) -> int:
    """A consent was withdrawn or expired: the assets collected under it and all that derives from them."""
    ids = list(Asset.objects.filter(consent_id=consent_id).values_list("pk", flat=True))
    ids += list(Asset.objects.filter(versions__consent_id=consent_id).values_list("pk", flat=True))
    if not ids:
        return 0
    with context.acting_as(_system("recompute_for_consent")):
        return constraints.recompute_downstream(ids)


@shared_task(name="lineage.recompute_all", ignore_result=True, acks_late=True)
def recompute_all() -> int:
    """Beat: a full recomputation, the safety net for anything a hook missed (and for consents that
    passed their end of validity since the last expiry sweep)."""
    with context.acting_as(_system("recompute_all")):
        return constraints.recompute_all()
