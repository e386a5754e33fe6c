"""Job writes: submission and state transitions (compare-and-swap, audited)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps import audit
from apps.core import context

from .models import TRANSITIONS, Job, JobState, JobTransition


class IllegalTransition(ValueError):
    pass


# Callables (job_id, from_state, to_state) run after the transition commits. Other capabilities
# register here (dispatch reacts to "approved", notifications to terminal states) instead of the
# job app importing them.
TRANSITION_HOOKS: list = []


def _run_hooks(job_id: int, from_state: str, to_state: str) -> None:
    for hook in TRANSITION_HOOKS:
        hook(job_id, from_state, to_state)


def transition(job_id: int, from_state: str, to_state: str, reason: str = "", **fields: Any) -> bool:
    """Move a job from ``from_state`` to ``to_state`` if — and only if — it is still in
    ``from_state``. Returns False when another worker got there first (nothing is written).
    Extra ``fields`` are set in the same UPDATE. The transition and its audit event commit together."""
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition(f"a job cannot go from {from_state} to {to_state}")
    now = timezone.now()
    with transaction.atomic():
        updated = Job.objects.filter(pk=job_id, state=from_state).update(
            state=to_state, state_reason=reason, updated_at=now, **fields
        )
        if updated != 1:
            return False
        job = Job.objects.only("id", "project_id", "state", "version").get(pk=job_id)
        actor = context.current_actor()
        JobTransition.objects.create(job_id=job_id, from_state=from_state, to_state=to_state, reason=reason,
                                     actor_label=actor.label, at=now)
        audit.record(f"jobs.job.{to_state}", job, object_repr=f"job #{job_id}",
                     before={"state": from_state}, after={"state": to_state, **{k: v for k, v in fields.items()}},
                     extra={"reason": reason})
        transaction.on_commit(lambda: _run_hooks(job_id, from_state, to_state))
    return True


__all__ = ["TRANSITION_HOOKS", "IllegalTransition", "JobState", "transition"]
