"""Job writes: submission and state transitions (compare-and-swap, audited)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from apps import audit
from apps.catalog.models import AssetKind, Purpose
from apps.core import context
from apps.core.sod import ensure_separate

from . import notify
from .models import TRANSITIONS, InputRole, Job, JobInput, JobKind, JobState, JobTransition


class IllegalTransition(ValueError):
    pass


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before with a different request body."""

    def __init__(self, job: Job):
        super().__init__(f"Idempotency-Key already used for job #{job.pk} with a different request body.")
        self.job = job


# Callables (job_id, from_state, to_state) run after the transition commits. Other capabilities
# register here (dispatch reacts to "approved", notifications to terminal states) instead of the
# job app importing them.
TRANSITION_HOOKS: list = []
# Callables (job_id) run after a submission commits: the policy capability queues admission here.
SUBMIT_HOOKS: list = []


def _run_hooks(job_id: int, from_state: str, to_state: str) -> None:
    notify.publish(job_id, to_state)
    for hook in TRANSITION_HOOKS:
        hook(job_id, from_state, to_state)


def transition(job_id: int, from_state: str, to_state: str, reason: str = "", *, project_id: int | None = None,
               **fields: Any) -> bool:
    """Move a job from ``from_state`` to ``to_state`` if — and only if — it is still in
    ``from_state``. Returns False when another worker got there first (nothing is written).
    Extra ``fields`` are set in the same UPDATE. The transition and its audit event commit together.
    ``project_id``, when the caller knows it, saves reading the job back for the audit event.

    One statement does it all (the compare-and-swap UPDATE, the transition row and the audit event,
    both written only if the UPDATE matched): every admission makes two transitions, and three ORM
    round trips each were a third of its time. Inside a caller's transaction no savepoint is taken:
    a database error here aborts the caller's transaction, as it should."""
    if to_state not in TRANSITIONS.get(from_state, frozenset()):
        raise IllegalTransition(f"a job cannot go from {from_state} to {to_state}")
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        if project_id is None:
            project_id = Job.objects.filter(pk=job_id).values_list("project_id", flat=True).first()
            if project_id is None:
                return False
        actor = context.current_actor()
        event = audit.prepare(f"jobs.job.{to_state}", Job(pk=job_id, project_id=project_id, state=to_state), object_repr=f"job #{job_id}",
                              before={"state": from_state}, after={"state": to_state, **fields}, extra={"reason": reason},
                              actor=actor)
        assign, params = _assignments({"state": to_state, "state_reason": reason, "updated_at": now, **fields})
        event_sql, event_params = audit.insert_sql(event, source="moved")
        # Table and column names come from model metadata; every value is a bound parameter.
        sql = (
            f"WITH moved AS (UPDATE {Job._meta.db_table} SET {assign}, version = version + 1 WHERE id = %s AND state = %s RETURNING id),"  # noqa: S608
            f" step AS (INSERT INTO {JobTransition._meta.db_table} (job_id, from_state, to_state, reason, actor_label, at)"
            f" SELECT id, %s, %s, %s, %s, %s FROM moved), event AS ({event_sql})"
            " SELECT count(*) FROM moved")
        with connection.cursor() as cur:
            cur.execute(sql, [*params, job_id, from_state, from_state, to_state, reason, actor.label, now, *event_params])
            if cur.fetchone()[0] != 1:
                return False
        transaction.on_commit(lambda: _run_hooks(job_id, from_state, to_state))
    return True


def _assignments(values: dict[str, Any]) -> tuple[str, list[Any]]:
    """``column = %s, …`` and the database values for Job fields (by name or attname)."""
    parts, params = [], []
    for name, value in values.items():
        field = Job._meta.get_field(name)
        if isinstance(value, models.Model):
            value = value.pk
        parts.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    return ", ".join(parts), params


# --- submission ------------------------------------------------------------------------------


def request_digest(body: Any) -> str:
    """SHA-256 of the request body as canonical JSON: the same body always gives the same digest."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _default_role(kind: str, asset_kind: str) -> str:
    if asset_kind == AssetKind.DATASET:
        return InputRole.DATA
    return InputRole.BASE_MODEL if kind == JobKind.FINE_TUNING else InputRole.MODEL


def _check_inputs(kind: str, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors: dict[str, str] = {}
    if not inputs:
        raise ValidationError({"inputs": "Name at least one input (a dataset, dataset version or model)."})
    normalised = []
    for i, item in enumerate(inputs):
        asset, version = item["asset"], item.get("dataset_version")
        if version is not None and version.dataset_id != asset.pk:
            errors[f"inputs[{i}].dataset_version"] = f"Version {version.version} belongs to another dataset."
        role = item.get("role") or _default_role(kind, asset.kind)
        if role == InputRole.DATA and asset.kind != AssetKind.DATASET:
            errors[f"inputs[{i}].role"] = f"{asset.name} is a model, not data."
        if role in (InputRole.MODEL, InputRole.BASE_MODEL) and asset.kind == AssetKind.DATASET:
            errors[f"inputs[{i}].role"] = f"{asset.name} is a dataset, not a model."
        normalised.append({"asset": asset, "dataset_version": version, "role": role})
    models = [n for n in normalised if n["role"] in (InputRole.MODEL, InputRole.BASE_MODEL)]
    if kind == JobKind.FINE_TUNING and len([n for n in normalised if n["role"] == InputRole.BASE_MODEL]) != 1:
        errors.setdefault("inputs", "A fine-tuning job needs exactly one base model among its inputs.")
    if kind in (JobKind.INFERENCE, JobKind.EVALUATION) and not models:
        errors.setdefault("inputs", f"An {kind} job needs the model it runs among its inputs.")
    if kind == JobKind.TRAINING and not any(n["role"] == InputRole.DATA for n in normalised):
        errors.setdefault("inputs", "A training job needs at least one dataset among its inputs.")
    keys = [(n["asset"].pk, getattr(n["dataset_version"], "pk", None)) for n in normalised]
    if len(set(keys)) != len(keys):
        errors.setdefault("inputs", "The same input is listed twice.")
    if errors:
        raise ValidationError(errors)
    return normalised


def replay_idempotent(requester: Any, idempotency_key: str, digest: str) -> Job | None:
    """The job an earlier request with this key created (IdempotencyConflict if its body differed)."""
    if not idempotency_key:
        return None
    existing = Job.objects.filter(requested_by=requester, idempotency_key=idempotency_key).first()
    return _replay(existing, digest)[0] if existing is not None else None


def submit_job(requester: Any, data: dict[str, Any], *, idempotency_key: str = "", digest: str = "") -> tuple[Job, bool]:
    """Record a job request and queue its admission after commit. Returns (job, created): with an
    idempotency key seen before and the same body, the existing job and False."""
    existing = replay_idempotent(requester, idempotency_key, digest)
    if existing is not None:
        return existing, False
    data = dict(data)
    inputs = _check_inputs(data.get("kind", ""), list(data.pop("inputs", None) or []))
    purpose = data.get("purpose", "")
    if not Purpose.objects.filter(code=purpose).exists():
        raise ValidationError({"purpose": f"Unknown purpose {purpose!r}: use a code from the purpose taxonomy."})
    if data.get("serving_jurisdiction"):
        data["serving_jurisdiction"] = data["serving_jurisdiction"].upper()
    try:
        with transaction.atomic():
            job = Job(**data, requested_by=requester, idempotency_key=idempotency_key, request_digest=digest,
                      state=JobState.SUBMITTED)
            job.full_clean(exclude=["last_decision"])
            job.save()
            JobInput.objects.bulk_create([JobInput(job=job, **n) for n in inputs])
            after = audit.snapshot(job)
            after["inputs"] = [{"asset": n["asset"].pk, "dataset_version": getattr(n["dataset_version"], "pk", None),
                                "role": n["role"]} for n in inputs]
            audit.record("jobs.job.submit", job, object_repr=f"job #{job.pk}", after=after)
            transaction.on_commit(lambda: _announce_submission(job.pk))
    except IntegrityError:
        # A concurrent retry with the same key won the insert: answer as the retry it is.
        existing = Job.objects.filter(requested_by=requester, idempotency_key=idempotency_key).first() if idempotency_key else None
        if existing is None:
            raise
        return _replay(existing, digest)
    return job, True


def _replay(existing: Job, digest: str) -> tuple[Job, bool]:
    if existing.request_digest != digest:
        raise IdempotencyConflict(existing)
    return existing, False


def _announce_submission(job_id: int) -> None:
    notify.publish(job_id, JobState.SUBMITTED)
    for hook in SUBMIT_HOOKS:
        hook(job_id)


# --- human decisions -------------------------------------------------------------------------


def approve_job(job: Job, approver: Any, note: str = "") -> Job:
    """A person approves a job awaiting approval: not its requester, nor the owner of the requesting
    service account (apps/core/sod.py)."""
    ensure_separate(job.requested_by, approver, f"job #{job.pk}")
    reason = f"Approved by {approver.get_username()}" + (f": {note.strip()}" if note.strip() else "")
    if not transition(job.pk, JobState.AWAITING_APPROVAL, JobState.APPROVED, reason,
                      approved_by_id=approver.pk, approved_at=timezone.now()):
        raise ValidationError({"state": f"Job #{job.pk} is no longer awaiting approval."})
    return Job.objects.get(pk=job.pk)


def deny_job(job: Job, approver: Any, note: str) -> Job:
    ensure_separate(job.requested_by, approver, f"job #{job.pk}")
    if not note.strip():
        raise ValidationError({"note": "Say why the job is denied."})
    if not transition(job.pk, JobState.AWAITING_APPROVAL, JobState.DENIED, f"Denied by {approver.get_username()}: {note.strip()}"):
        raise ValidationError({"state": f"Job #{job.pk} is no longer awaiting approval."})
    return Job.objects.get(pk=job.pk)


CANCELLABLE = (JobState.SUBMITTED, JobState.AWAITING_APPROVAL, JobState.APPROVED)


def cancel_job(job: Job, reason: str = "") -> Job:
    """Withdraw a job before it reaches a scheduler (dispatch cancels jobs already on a cluster)."""
    label = context.current_actor().label
    for state in CANCELLABLE:
        if transition(job.pk, state, JobState.CANCELLED, reason.strip() or f"Cancelled by {label}"):
            return Job.objects.get(pk=job.pk)
    raise ValidationError({"state": f"Job #{job.pk} is {Job.objects.get(pk=job.pk).state} and cannot be cancelled here."})


def resubmit_job(job: Job) -> Job:
    """Ask for a new decision on a denied job (after a policy, waiver or catalog change)."""
    if not transition(job.pk, JobState.DENIED, JobState.EVALUATING, f"Resubmitted by {context.current_actor().label}",
                      evaluation_attempts=1):
        raise ValidationError({"state": f"Only a denied job can be resubmitted; job #{job.pk} is {job.state}."})
    transaction.on_commit(lambda: _announce_submission(job.pk))  # at once outside a transaction
    return Job.objects.get(pk=job.pk)


__all__ = ["SUBMIT_HOOKS", "TRANSITION_HOOKS", "IdempotencyConflict", "IllegalTransition", "JobState", "approve_job",
           "cancel_job", "deny_job", "replay_idempotent", "request_digest", "resubmit_job", "submit_job", "transition"]
