"""Dispatch tasks: thin wrappers around apps/dispatch services. Ids in, quiet return when the row
is gone, compare-and-swap transitions inside the services, retries only for named errors
(``SchedulerUnavailable``, ``StillStopping``, mail errors) with backoff.

Beat: ``dispatch.monitor`` (settings.GOVHUB_DISPATCH_MONITOR_INTERVAL, 1 s) follows jobs on
clusters, accrues usage and enforces runtime guardrails; ``dispatch.reconcile`` (5 s) finishes
dispatches a dead worker left behind — asking the scheduler by tag before ever resubmitting —
and re-sends cancels nobody acknowledged."""

from __future__ import annotations

import datetime as dt
import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.core import context
from workers.dispatch import BackendConfigError, SchedulerUnavailable

log = logging.getLogger(__name__)


class StillStopping(Exception):
    """The scheduler has not let the job go yet; look again later."""


def _system(name: str) -> context.Actor:
    return context.Actor(user_id=None, label=f"system:dispatch.{name}", kind="system")


# acks_late: dispatch is idempotent (intent recorded first, scheduler asked by tag before any
# resubmission), so a message redelivered after a worker died is safe and wanted.
@shared_task(name="dispatch.dispatch_job", ignore_result=True, acks_late=True, autoretry_for=(SchedulerUnavailable,),
             retry_backoff=1, retry_backoff_max=60, retry_jitter=False, max_retries=8)
def dispatch_job(job_id: int) -> str:
    from apps.dispatch import services

    with context.acting_as(_system("dispatch_job")):
        return services.dispatch(job_id)


@shared_task(name="dispatch.reconcile", ignore_result=True)
def reconcile() -> dict[str, int]:
    from apps.dispatch import monitor, services
    from apps.dispatch.models import UsageRecord
    from apps.jobs.models import JobState

    grace = float(getattr(settings, "GOVHUB_DISPATCH_RECONCILE_GRACE", 30))
    done: dict[str, int] = {}
    with context.acting_as(_system("reconcile")):
        for job_id in services.stale_dispatches(grace):
            try:
                outcome = services.dispatch(job_id)
            except (SchedulerUnavailable, BackendConfigError) as exc:
                log.warning("reconcile: job %s still cannot be dispatched: %s", job_id, exc)
                outcome = "unavailable"
            done[outcome] = done.get(outcome, 0) + 1
        cutoff = timezone.now() - dt.timedelta(seconds=grace)
        unacked = UsageRecord.objects.filter(job__state=JobState.CANCEL_REQUESTED, cancel_acked_at__isnull=True,
                                             cancel_requested_at__lt=cutoff).values_list("job_id", flat=True)
        for job_id in unacked:
            try:
                done[f"cancel-{monitor.cancel_on_scheduler(job_id, wait_seconds=0)}"] = 1
            except SchedulerUnavailable as exc:
                log.warning("reconcile: cancel of job %s not acknowledged yet: %s", job_id, exc)
    return done


@shared_task(name="dispatch.monitor", ignore_result=True)
def monitor_clusters() -> dict[str, int]:
    from apps.dispatch import monitor
    from apps.jobs.models import Job

    totals: dict[str, int] = {}
    cluster_ids = Job.objects.filter(state__in=monitor.WATCHED).exclude(scheduler_job_id="").values_list("cluster_id", flat=True).distinct()
    with context.acting_as(_system("monitor")):
        for cluster_id in sorted(set(cluster_ids)):
            try:
                counts = monitor.poll_cluster(cluster_id)
            except (SchedulerUnavailable, BackendConfigError) as exc:
                log.warning("monitor: cluster %s not polled: %s", cluster_id, exc)
                continue
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
    return totals


@shared_task(name="dispatch.cancel_on_scheduler", ignore_result=True, acks_late=True, autoretry_for=(SchedulerUnavailable,),
             retry_backoff=1, retry_backoff_max=30, retry_jitter=False, max_retries=10)
def cancel_on_scheduler(job_id: int) -> str:
    from apps.dispatch import monitor

    with context.acting_as(_system("cancel")):
        outcome = monitor.cancel_on_scheduler(job_id, wait_seconds=float(getattr(settings, "GOVHUB_DISPATCH_CANCEL_WAIT", 2)))
    if outcome == "stopping":
        confirm_stop.apply_async((job_id,), countdown=1)
    return outcome


@shared_task(name="dispatch.confirm_stop", ignore_result=True, autoretry_for=(StillStopping, SchedulerUnavailable),
             retry_backoff=1, retry_backoff_max=30, retry_jitter=False, max_retries=20)
def confirm_stop(job_id: int) -> str:
    """Look again whether the scheduler let a cancelled job go (the monitor beat does too)."""
    from apps.dispatch import monitor, services
    from apps.jobs.models import Job, JobState

    job = Job.objects.select_related("cluster").filter(pk=job_id, state=JobState.CANCEL_REQUESTED).exclude(scheduler_job_id="").first()
    if job is None:
        return "done"
    backend = services.backend_for_cluster(job.cluster)
    status = backend.status(job.scheduler_job_id)
    with context.acting_as(_system("confirm_stop")):
        if monitor.confirm_stopped(job_id, status):
            return "stopped"
    if status.phase == "running":  # the cancel was lost (scheduler restarted): send it again
        backend.cancel(job.scheduler_job_id)
    raise StillStopping(f"job {job_id} is still {status.raw_state or status.phase} on the scheduler")


@shared_task(name="dispatch.enforce_consent", ignore_result=True, acks_late=True)
def enforce_consent(consent_id: int) -> int:
    from apps.dispatch import monitor

    with context.acting_as(_system("enforce_consent")):
        return monitor.cancel_for_consent(consent_id)


@shared_task(name="dispatch.enforce_policy_flag", ignore_result=True, acks_late=True)
def enforce_policy_flag(job_id: int) -> bool:
    from apps.dispatch import guardrails, monitor
    from apps.jobs.models import Job

    job = Job.objects.filter(pk=job_id).first()
    reason = guardrails.policy_violation(job) if job is not None else None
    if not reason:
        return False
    with context.acting_as(_system("enforce_policy_flag")):
        return monitor.request_cancel(job_id, reason)


@shared_task(name="dispatch.email_notification", ignore_result=True, autoretry_for=(smtplib.SMTPException, OSError),
             retry_backoff=5, retry_backoff_max=600, max_retries=8)
def email_notification(notification_id: int) -> bool:
    from apps.dispatch import notifications

    return notifications.send_email(notification_id)
