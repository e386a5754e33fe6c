"""The checks that keep a job off a cluster (before dispatch) or stop it there (while it runs):
the policy's own verdict, the consent of its inputs, the project's hard budget, the GPU quota and
the time limit. Each returns a sentence saying why, or None."""

from __future__ import annotations

import datetime as dt
import math

from django.db.models import Sum
from django.utils import timezone

from apps.catalog.models import ConsentRecord, ConsentStatus
from apps.jobs.models import ACTIVE_ON_CLUSTER, Job, JobInput

#: A job may overrun its estimate by this fraction before govhub stops it (schedulers enforce
#: their own limit — Slurm's time limit, Kubernetes' activeDeadlineSeconds — from the same figure).
TIME_LIMIT_GRACE = 0.0


def policy_violation(job: Job) -> str | None:
    """Does a policy activated since admission (or a fact change re-evaluated by the policy
    engine) deny this job now? The policy capability records its verdict on the job
    (``Job.guardrail_violation``, ``Job.flagged_at``); dispatch acts on it."""
    if job.flagged_at is None and not job.guardrail_violation:
        return None
    return f"a policy now denies it: {job.guardrail_violation or 'flagged by the policy engine'}"


def decision_ref(job: Job) -> str:
    """The admission decision that approved the job, as carried in scheduler tags."""
    return str(job.last_decision_id) if job.last_decision_id else ""


def input_consents(job_ids: list[int]) -> dict[int, list[ConsentRecord]]:
    """Consent records behind each job's inputs: the dataset version's own, else the asset's."""
    rows = JobInput.objects.filter(job_id__in=job_ids).values_list("job_id", "asset__consent_id", "dataset_version__consent_id")
    wanted: dict[int, set[int]] = {}
    for job_id, asset_consent, version_consent in rows:
        consent_id = version_consent or asset_consent
        if consent_id:
            wanted.setdefault(job_id, set()).add(consent_id)
    ids = {c for cs in wanted.values() for c in cs}
    records = ConsentRecord.objects.in_bulk(ids) if ids else {}
    return {job_id: [records[c] for c in sorted(cs) if c in records] for job_id, cs in wanted.items()}


def consent_problem(consents: list[ConsentRecord], at: dt.datetime | None = None) -> str | None:
    at = at or timezone.now()
    for consent in consents:
        status = consent.effective_status(at)
        if status == ConsentStatus.WITHDRAWN:
            when = consent.withdrawn_at.strftime("%Y-%m-%d %H:%M UTC") if consent.withdrawn_at else "recently"
            return f"the consent {consent.reference} of its input was withdrawn ({when})"
        if status == ConsentStatus.EXPIRED:
            return f"the consent {consent.reference} of its input expired"
    return None


def gpu_quota_problem(job: Job, max_gpus: int | None) -> str | None:
    """Would dispatching ``job`` put its project over its GPU quota? Counts the GPUs of the
    project's jobs already on a cluster (dispatching, dispatched, running, being cancelled)."""
    if max_gpus is None:
        return None
    in_use = (Job.objects.filter(project_id=job.project_id, state__in=ACTIVE_ON_CLUSTER).exclude(pk=job.pk)
              .aggregate(n=Sum("gpus"))["n"] or 0)
    if in_use + job.gpus > max_gpus:
        return f"GPU quota exceeded: the project holds {in_use} of its {max_gpus} GPUs and the job asks for {job.gpus}"
    return None


def time_limit_problem(job: Job, started_at: dt.datetime | None, now: dt.datetime | None = None) -> str | None:
    if started_at is None:
        return None
    limit = float(job.estimated_hours) * 3600 * (1 + TIME_LIMIT_GRACE)
    ran = ((now or timezone.now()) - started_at).total_seconds()
    if ran > limit:
        return f"it ran past its time limit ({_duration(ran)} against an estimate of {_duration(limit)})"
    return None


def _duration(seconds: float) -> str:
    minutes = math.floor(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(seconds, 0):.0f} s" if minutes < 1 else f"{minutes} min"
