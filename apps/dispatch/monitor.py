"""Watching jobs on clusters and stopping them.

``poll_cluster`` (the monitor beat): one status call per cluster for all its jobs, one telemetry
scrape; usage accrued; states followed (dispatched → running → succeeded/failed); runtime
guardrails checked (hard budget, time limit, consent, policy).

Stopping is two states in govhub: ``request_cancel`` moves the job to CANCEL_REQUESTED (reason
recorded, owner notified) and asks the scheduler; ``confirm_stopped`` records STOPPED only once
the scheduler reports the job gone (finished, or unknown to it).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from apps.compute.models import ComputeCluster
from apps.jobs.models import Job, JobState
from apps.jobs.services import transition
from workers.dispatch import Phase, SchedulerStatus

from . import guardrails, notifications, telemetry, usage
from .models import BudgetLimits, NotificationKind, UsageRecord
from .services import backend_for_cluster, connection_for, spec_for

log = logging.getLogger(__name__)

WATCHED = (JobState.DISPATCHED, JobState.RUNNING, JobState.CANCEL_REQUESTED)
CANCELLABLE = (JobState.RUNNING, JobState.DISPATCHED, JobState.DISPATCHING)


def poll_cluster(cluster_id: int) -> dict[str, int]:
    cluster = ComputeCluster.objects.filter(pk=cluster_id).first()
    jobs = list(Job.objects.select_related("project", "requested_by").filter(cluster_id=cluster_id, state__in=WATCHED)
                .exclude(scheduler_job_id=""))
    if cluster is None or not jobs:
        return {"jobs": 0}
    backend = backend_for_cluster(cluster)
    statuses = backend.status_many([j.scheduler_job_id for j in jobs])
    readings = None
    source = connection_for(cluster).telemetry_source
    if source:
        try:
            readings = telemetry.scrape(source)
        except telemetry.TelemetryUnavailable as exc:
            log.warning("cluster %s: telemetry unavailable, estimating energy: %s", cluster.name, exc)
    consents = guardrails.input_consents([j.pk for j in jobs])
    now = timezone.now()
    counts: dict[str, int] = defaultdict(int)
    projects = set()
    for job in jobs:
        status = statuses[job.scheduler_job_id]
        job_telemetry = telemetry.for_job(readings, status.telemetry_match) if readings is not None else None
        end = status.ended_at or now
        usage.record_usage(job.pk, started_at=status.started_at, until=min(end, now), gpus=status.gpus or job.gpus,
                           telemetry=job_telemetry, scheduler_state=status.raw_state)
        counts[follow(job, status)] += 1
        projects.add(job.project_id)
        if job.state in (JobState.DISPATCHED, JobState.RUNNING) and status.phase in (Phase.PENDING, Phase.RUNNING):
            reason = (guardrails.policy_violation(job) or guardrails.consent_problem(consents.get(job.pk, []), now)
                      or guardrails.time_limit_problem(job, status.started_at, now))
            if reason:
                counts["cancelled"] += int(request_cancel(job.pk, reason))
    for project_id in projects:
        counts["cancelled"] += enforce_budget(project_id)
    return dict(counts, jobs=len(jobs))


def follow(job: Job, status: SchedulerStatus) -> str:
    """Move the job to what the scheduler says (compare-and-swap; a lost race changes nothing)."""
    phase, now = status.phase, timezone.now()
    if job.state == JobState.CANCEL_REQUESTED:
        if status.finished:
            return "stopped" if confirm_stopped(job.pk, status) else "unchanged"
        return "stopping"
    if phase == Phase.RUNNING and job.state == JobState.DISPATCHED:
        if transition(job.pk, JobState.DISPATCHED, JobState.RUNNING, f"Running ({status.raw_state} on the scheduler)",
                      started_at=status.started_at or now):
            UsageRecord.objects.filter(pk=job.pk, running_seen_at__isnull=True).update(running_seen_at=now)
            return "running"
    if status.finished:
        if phase == Phase.SUCCEEDED:
            to, reason = JobState.SUCCEEDED, "Finished successfully"
        elif phase == Phase.CANCELLED:
            to, reason = JobState.FAILED, "Cancelled on the scheduler, not by govhub"
        elif phase == Phase.GONE:
            to, reason = JobState.FAILED, "The scheduler no longer knows the job"
        else:
            to, reason = JobState.FAILED, f"Failed on the scheduler ({status.raw_state}{': ' + status.reason if status.reason else ''})"
        if transition(job.pk, job.state, to, reason, finished_at=status.ended_at or now):
            return to
    return "unchanged"


def request_cancel(job_id: int, reason: str) -> bool:
    """Guardrail: move the job to CANCEL_REQUESTED with ``reason``, notify its owner, and ask the
    scheduler (a task, after commit). False when the job is not on a cluster any more."""
    for _ in range(3):  # the job may move (dispatched → running) between read and swap
        job = Job.objects.select_related("requested_by").filter(pk=job_id).first()
        if job is None or job.state not in CANCELLABLE:
            return False
        with transaction.atomic():
            if not transition(job_id, job.state, JobState.CANCEL_REQUESTED, f"Guardrail: {reason}"):
                continue
            UsageRecord.objects.filter(pk=job_id).update(cancel_reason=reason, cancel_requested_at=timezone.now())
            notifications.notify(job.requested_by, NotificationKind.GUARDRAIL_CANCEL, f"Job #{job_id} is being stopped",
                                 f"govhub is stopping job #{job_id} because {reason}.", project_id=job.project_id, job_id=job_id)
            transaction.on_commit(lambda: _enqueue_cancel(job_id))
        return True
    return False


def _enqueue_cancel(job_id: int) -> None:
    from workers.dispatch_tasks import cancel_on_scheduler

    cancel_on_scheduler.delay(job_id)


def cancel_on_scheduler(job_id: int, wait_seconds: float = 2.0) -> str:
    """Send the cancel (idempotent) and wait a little for the scheduler to let the job go.
    Returns stopped, stopping (ask again later) or a reason nothing was done."""
    job = Job.objects.select_related("project", "cluster").filter(pk=job_id, state=JobState.CANCEL_REQUESTED).first()
    if job is None:
        return "not-cancel-requested"
    backend = backend_for_cluster(job.cluster)
    scheduler_id = job.scheduler_job_id
    if not scheduler_id:  # cancelled while dispatching: the submit may or may not have gone through
        found = backend.find(spec_for(job, job.cluster))
        if found is None or found.finished:
            return "stopped" if confirm_stopped(job_id, found or SchedulerStatus("", Phase.GONE)) else "unchanged"
        scheduler_id = found.scheduler_job_id
        Job.objects.filter(pk=job_id, scheduler_job_id="").update(scheduler_job_id=scheduler_id)
    if backend.cancel(scheduler_id):
        UsageRecord.objects.filter(pk=job_id, cancel_acked_at__isnull=True).update(cancel_acked_at=timezone.now())
    status = backend.wait_gone(scheduler_id, wait_seconds)
    if status.finished:
        return "stopped" if confirm_stopped(job_id, status) else "unchanged"
    return "stopping"


def confirm_stopped(job_id: int, status: SchedulerStatus) -> bool:
    """CANCEL_REQUESTED → STOPPED once the scheduler reports the job gone (SUCCEEDED if it
    finished on its own before the cancel took effect)."""
    if not status.finished:
        return False
    now = timezone.now()
    to = JobState.SUCCEEDED if status.phase == Phase.SUCCEEDED else JobState.STOPPED
    word = "finished" if to == JobState.SUCCEEDED else f"gone ({status.raw_state or status.phase})"
    if transition(job_id, JobState.CANCEL_REQUESTED, to, f"The scheduler reports the job {word}", finished_at=status.ended_at or now):
        UsageRecord.objects.filter(pk=job_id).update(stopped_at=now, scheduler_state=status.raw_state or status.phase)
        return True
    return False


def enforce_budget(project_id: int) -> int:
    """Warn once at the warning threshold; at the hard threshold notify once and cancel every
    job of the project still on a cluster. Returns the number of jobs asked to stop."""
    status = usage.budget_status(project_id)
    if status is None or status.level == "ok" or status.limits is None:
        return 0
    now = timezone.now()
    if status.level == "warn":
        if BudgetLimits.objects.filter(pk=status.limits.pk, warned_at__isnull=True).update(warned_at=now):
            notifications.notify_project_owners(project_id, NotificationKind.BUDGET_WARNING, "Budget warning",
                                                f"The project has used {status.describe()} of its budget.")
        return 0
    if BudgetLimits.objects.filter(pk=status.limits.pk, exceeded_at__isnull=True).update(exceeded_at=now):
        notifications.notify_project_owners(project_id, NotificationKind.BUDGET_EXCEEDED, "Budget exhausted",
                                            f"The project has used {status.describe()}; its running jobs are being stopped.")
    reason = f"its project's hard budget is exceeded ({status.describe()})"
    ids = Job.objects.filter(project_id=project_id, state__in=CANCELLABLE).values_list("pk", flat=True)
    return sum(int(request_cancel(pk, reason)) for pk in ids)


def cancel_for_consent(consent_id: int) -> int:
    """A consent was withdrawn or expired: stop every job on a cluster that uses data under it."""
    from apps.jobs.models import JobInput

    job_ids = set(JobInput.objects.filter(asset__consent_id=consent_id, job__state__in=CANCELLABLE).values_list("job_id", flat=True))
    job_ids |= set(JobInput.objects.filter(dataset_version__consent_id=consent_id, job__state__in=CANCELLABLE)
                   .values_list("job_id", flat=True))
    consents = guardrails.input_consents(sorted(job_ids))
    stopped = 0
    for job_id in sorted(job_ids):
        reason = guardrails.consent_problem(consents.get(job_id, []))
        if reason:
            stopped += int(request_cancel(job_id, reason))
    return stopped
