"""Policy tasks: admission, continuous re-evaluation, the reaper and what-if reports. Thin: they take
ids, run as a system actor, and call apps.policy services, which change job state only by
compare-and-swap (so a repeat delivery — acks_late — changes nothing)."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.core.cache import cache as shared
from django.db import OperationalError
from django.utils import timezone

from apps.catalog.models import Asset
from apps.core import context
from apps.jobs.models import ACTIVE_ON_CLUSTER, Job, JobState
from apps.jobs.services import transition
from apps.policy import cache, facts
from apps.policy.services import admission, whatif

log = logging.getLogger(__name__)

STUCK_AFTER = dt.timedelta(minutes=2)  # an evaluation takes milliseconds; two minutes means the worker died
LOST_AFTER = dt.timedelta(minutes=1)  # a submitted job nobody picked up: its message was lost
LIVE_STATES = (JobState.AWAITING_APPROVAL, JobState.APPROVED, *ACTIVE_ON_CLUSTER)
WATERMARK = "policy:constraints_watermark"


def _system(task_name: str) -> context.Actor:
    return context.Actor(user_id=None, label=f"system:{task_name}", kind="system")


@shared_task(name="policy.evaluate_job", ignore_result=True, acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def evaluate_job(job_id: int) -> str:
    with context.acting_as(_system("evaluate_job")):
        decision = admission.admit(int(job_id))
    return decision.outcome if decision else "skipped"


def enqueue_admission(job_id: int) -> None:
    """SUBMIT_HOOKS entry: runs after the submission committed."""
    evaluate_job.delay(job_id)


@shared_task(name="policy.reap_stuck_jobs", ignore_result=True, acks_late=True)
def reap_stuck_jobs() -> int:
    """Beat: hand jobs stuck in ``evaluating`` (their worker died) back to ``submitted`` and queue
    them again; re-queue submitted jobs whose message was lost. The attempt counter in the job
    turns a job that keeps killing workers into a denial (admission.MAX_ATTEMPTS)."""
    now = timezone.now()
    handed = 0
    with context.acting_as(_system("reap_stuck_jobs")):
        for pk in Job.objects.filter(state=JobState.EVALUATING, updated_at__lt=now - STUCK_AFTER).values_list("pk", flat=True):
            if transition(pk, JobState.EVALUATING, JobState.SUBMITTED,
                          f"Evaluation did not finish within {int(STUCK_AFTER.total_seconds())} s (worker lost); queued again"):
                handed += 1
                evaluate_job.delay(pk)
        for pk in Job.objects.filter(state=JobState.SUBMITTED, updated_at__lt=now - LOST_AFTER).values_list("pk", flat=True):
            evaluate_job.delay(pk)
    if handed:
        log.warning("reaper handed back %s jobs stuck in evaluating", handed)
    return handed


def _reevaluate(job_ids: list[int], reason: str, task: str) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    with context.acting_as(_system(task)):
        for pk in sorted(set(job_ids)):
            try:
                status = admission.reevaluate(pk, reason)
            except Exception:
                log.exception("re-evaluating job %s failed", pk)
                status = "error"
            outcomes[status] = outcomes.get(status, 0) + 1
    log.info("re-evaluated %s jobs (%s): %s", len(set(job_ids)), reason, outcomes)
    return outcomes


def live_jobs_using(asset_ids: set[int] | list[int]) -> list[int]:
    return list(Job.objects.filter(state__in=LIVE_STATES, job_inputs__asset_id__in=list(asset_ids))
                .values_list("pk", flat=True).distinct())


@shared_task(name="policy.reevaluate_jobs", ignore_result=True, acks_late=True)
def reevaluate_jobs(job_ids: list[int], reason: str = "") -> dict[str, int]:
    return _reevaluate([int(j) for j in job_ids], reason, "reevaluate_jobs")


@shared_task(name="policy.reevaluate_live_jobs", ignore_result=True, acks_late=True)
def reevaluate_live_jobs(reason: str = "") -> dict[str, int]:
    """A policy version or a waiver changed: every queued, approved and running job."""
    return _reevaluate(list(Job.objects.filter(state__in=LIVE_STATES).values_list("pk", flat=True)), reason, "reevaluate_live_jobs")


@shared_task(name="policy.reevaluate_for_consent", ignore_result=True, acks_late=True,
             autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def reevaluate_for_consent(consent_id: int) -> dict[str, int]:
    """A consent was withdrawn or expired: recompute the constraints of the assets collected under
    it (and of everything downstream), then judge the live jobs that use any of them."""
    direct = set(Asset.objects.filter(consent_id=consent_id).values_list("pk", flat=True))
    direct |= set(Asset.objects.filter(versions__consent_id=consent_id).values_list("pk", flat=True))
    if not direct:
        return {}
    with context.acting_as(_system("reevaluate_for_consent")):
        affected = facts.downstream_assets(list(direct))
        facts.refresh_constraints(list(affected))
        cache.bump("serving")
    return _reevaluate(live_jobs_using(affected), f"consent #{consent_id} withdrawn or expired", "reevaluate_for_consent")


@shared_task(name="policy.watch_constraints", ignore_result=True, acks_late=True)
def watch_constraints() -> int:
    """Beat: effective constraints recomputed since the last look (a residency change, a new
    lineage edge, a consent) → the gateway cache is dropped and live jobs using them re-judged."""
    raw = shared.get(WATERMARK)
    if raw is None:  # first run: start watching from now
        shared.set(WATERMARK, timezone.now().isoformat(), None)
        return 0
    changed, watermark = facts.constraints_changed_since(dt.datetime.fromisoformat(raw))
    if not changed:
        return 0
    cache.bump("serving")
    jobs = live_jobs_using(changed)
    if jobs:
        _reevaluate(jobs, "effective constraints changed", "watch_constraints")
    shared.set(WATERMARK, watermark.isoformat(), None)
    return len(jobs)


@shared_task(name="policy.run_whatif", ignore_result=True, acks_late=True, time_limit=600)
def run_whatif(report_id: int) -> None:
    with context.acting_as(_system("run_whatif")):
        whatif.complete(int(report_id))
