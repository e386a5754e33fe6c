"""Dispatch: from an approved job to a job on a scheduler, exactly once.

1. ``dispatch(job_id)``: in one transaction, the pre-dispatch checks (policy, consent, hard
   budget, GPU quota — under a lock on the project's budget, so two jobs cannot both squeeze
   under the quota) and the intent: a fresh ``dispatch_attempt`` uuid and APPROVED → DISPATCHING
   through ``transition()``. The intent commits before anything reaches a scheduler.
2. ``submit_recorded(job_id)``: under a row lock (SKIP LOCKED, so two workers never both act),
   ask the scheduler for a job carrying this govhub job's tag — unless this very call just
   recorded the intent — and submit only when there is none; then DISPATCHING → DISPATCHED with
   the scheduler's id, in the same transaction. A worker killed between submit and record leaves
   DISPATCHING behind, and the next attempt (redelivery or the reconcile beat) adopts the
   scheduler job it finds by tag instead of submitting again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.compute.models import ComputeCluster, SchedulerKind
from apps.jobs.models import Job, JobState, JobTransition
from apps.jobs.services import transition
from workers.dispatch import Backend, BackendConfigError, JobSpec, SubmitRejected, backend_for

from . import guardrails, notifications, usage
from .models import Backend as BackendKind
from .models import BudgetLimits, ClusterConnection, NotificationKind, UsageRecord

log = logging.getLogger(__name__)

_DEFAULT_BACKEND = {SchedulerKind.LOCAL: BackendKind.LOCAL, SchedulerKind.SLURM: BackendKind.SLURM_REST,
                    SchedulerKind.KUBERNETES: BackendKind.KUBERNETES}


@dataclass(frozen=True)
class Connection:
    backend: str
    options: dict
    telemetry_source: str


def connection_for(cluster: ComputeCluster) -> Connection:
    conn = ClusterConnection.objects.filter(cluster_id=cluster.pk).first()
    if conn is not None:
        return Connection(conn.backend, conn.options or {}, conn.telemetry_source)
    if cluster.scheduler == SchedulerKind.LOCAL:
        return Connection(BackendKind.LOCAL, {}, "")
    raise BackendConfigError(f"cluster {cluster.name} has no connection configured (Admin → Cluster connections)")


def backend_for_cluster(cluster: ComputeCluster) -> Backend:
    conn = connection_for(cluster)
    return backend_for(conn.backend, conn.options)


def spec_for(job: Job, cluster: ComputeCluster) -> JobSpec:
    return JobSpec(
        job_id=job.pk, attempt=str(job.dispatch_attempt or ""), decision=guardrails.decision_ref(job),
        project=job.project.slug, image=job.image, command=tuple(job.command or ()), gpus=job.gpus,
        estimated_hours=float(job.estimated_hours), cluster_name=cluster.name, region=cluster.region,
        security_tier=cluster.security_tier, instance=instance_id(),
    )


def instance_id() -> str:
    """This installation's name on shared schedulers: GOVHUB_INSTANCE, else the database name
    (stable for an installation, distinct for staging and production — and for test databases)."""
    from django.db import connection

    return settings.GOVHUB_INSTANCE or str(connection.settings_dict.get("NAME") or "govhub")


def _load(job_id: int, *related: str, **lock) -> Job | None:
    qs = Job.objects.select_related("project", "cluster", *related)
    if lock:
        qs = qs.select_for_update(of=("self",), **lock)
    try:
        return qs.get(pk=job_id)
    except Job.DoesNotExist:
        return None


def preflight(job: Job, cluster: ComputeCluster | None, limits: BudgetLimits | None = None) -> str | None:
    """Why this job must not reach a scheduler now, or None."""
    if cluster is None:
        return "no cluster was chosen for it"
    if not cluster.enabled:
        return f"cluster {cluster.name} is disabled"
    if cluster.gpu_count and job.gpus > cluster.gpu_count:
        return f"it asks for {job.gpus} GPUs and cluster {cluster.name} has {cluster.gpu_count}"
    reason = guardrails.policy_violation(job)
    reason = reason or guardrails.consent_problem(guardrails.input_consents([job.pk]).get(job.pk, []))
    if reason:
        return reason
    status = usage.budget_status(job.project_id, limits=limits)
    if status is not None and status.level == "hard":
        return f"the project's budget is exhausted ({status.describe()})"
    return guardrails.gpu_quota_problem(job, limits.max_concurrent_gpus if limits else None)


def dispatch(job_id: int) -> str:
    """Record the intent for an approved job and submit it. Returns what happened (for logs and
    tests): refused, submitted, adopted, busy, not-approved, gone."""
    job = _load(job_id, "target_cluster", "requested_by")
    if job is None:
        return "gone"
    if job.state == JobState.DISPATCHING:
        return submit_recorded(job_id, fresh=False)
    if job.state != JobState.APPROVED:
        return "not-approved"
    cluster = job.cluster or job.target_cluster
    with transaction.atomic():
        # Serialise dispatches within a project: the quota check must see the other's intent.
        limits = (BudgetLimits.objects.select_for_update(of=("self",)).select_related("budget")
                  .filter(budget__project_id=job.project_id).first())
        refusal = preflight(job, cluster, limits)
        if refusal:
            if transition(job_id, JobState.APPROVED, JobState.DENIED, f"Refused at dispatch: {refusal}"):
                notifications.notify(job.requested_by, NotificationKind.DISPATCH_REFUSED, f"Job #{job_id} was not started",
                                     f"govhub did not send job #{job_id} to a cluster: {refusal}.",
                                     project_id=job.project_id, job_id=job_id)
            return "refused"
        attempt = uuid.uuid4()
        if not transition(job_id, JobState.APPROVED, JobState.DISPATCHING, f"Dispatch to {cluster.name} (attempt {attempt})",
                          dispatch_attempt=attempt, cluster=cluster):
            return "busy"
        approved = (JobTransition.objects.filter(job_id=job_id, to_state=JobState.APPROVED).order_by("-at")
                    .values_list("at", flat=True).first())
        try:
            conn: Connection | None = connection_for(cluster)
        except BackendConfigError:
            conn = None
        record = UsageRecord(job_id=job_id, project_id=job.project_id, cluster=cluster, gpus=job.gpus, currency=cluster.currency,
                             backend=conn.backend if conn else _DEFAULT_BACKEND.get(cluster.scheduler, BackendKind.LOCAL),
                             approved_at=approved, scheduler_tag="")
        UsageRecord.objects.bulk_create([record], update_conflicts=True, unique_fields=["job"],
                                        update_fields=["cluster", "gpus", "currency", "backend", "approved_at", "scheduler_tag"])
    return submit_recorded(job_id, fresh=True, conn=conn)


def submit_recorded(job_id: int, *, fresh: bool, conn: Connection | None = None) -> str:
    with transaction.atomic():
        job = _load(job_id, skip_locked=True)
        if job is None or job.state != JobState.DISPATCHING:
            return "busy"  # another worker holds it, or it moved on (e.g. cancelled)
        cluster = job.cluster
        spec = spec_for(job, cluster)
        try:
            backend = backend_for(conn.backend, conn.options) if conn else backend_for_cluster(cluster)
            found = None if fresh else backend.find(spec)
            started = timezone.now()
            if found is not None:
                scheduler_id, outcome = found.scheduler_job_id, "adopted"
            else:
                scheduler_id, outcome = backend.submit(spec), "submitted"
        except (SubmitRejected, BackendConfigError) as exc:
            _fail(job, f"Dispatch failed: {exc}")
            return "failed"
        finished = timezone.now()
        pause = float(getattr(settings, "GOVHUB_DISPATCH_PAUSE_AFTER_SUBMIT", 0) or 0)
        if pause and outcome == "submitted":  # test-only fault injection (settings/test.py)
            log.warning("job %s: pausing %.1f s between submit and record (test fault injection)", job_id, pause)
            time.sleep(pause)
        transition(job_id, JobState.DISPATCHING, JobState.DISPATCHED,
                   f"{'Submitted to' if outcome == 'submitted' else 'Found on'} {cluster.name} as {scheduler_id}",
                   scheduler_job_id=scheduler_id, dispatched_at=finished)
        timings = {"scheduler_tag": spec.tag, "recorded_at": timezone.now()}
        if outcome == "submitted":
            timings.update(submit_started_at=started, submit_finished_at=finished)
        UsageRecord.objects.filter(pk=job_id).update(**timings)
    log.info("job %s %s on %s as %s", job_id, outcome, cluster.name, scheduler_id)
    return outcome


def _fail(job: Job, reason: str) -> None:
    if transition(job.pk, JobState.DISPATCHING, JobState.FAILED, reason, finished_at=timezone.now()):
        notifications.notify(job.requested_by, NotificationKind.DISPATCH_FAILED, f"Job #{job.pk} could not be started",
                             reason, project_id=job.project_id, job_id=job.pk)


def stale_dispatches(grace_seconds: float) -> list[int]:
    """DISPATCHING jobs whose intent is older than ``grace_seconds`` (the worker that recorded it
    died or lost the scheduler) and APPROVED jobs nobody picked up (a lost hook or message)."""
    cutoff = timezone.now() - dt.timedelta(seconds=grace_seconds)
    return list(Job.objects.filter(state__in=[JobState.DISPATCHING, JobState.APPROVED], updated_at__lt=cutoff)
                .order_by("updated_at").values_list("pk", flat=True)[:200])
