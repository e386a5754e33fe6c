"""The guardrail check of a job already on a cluster: judged again on the cluster it runs on, a job
that now violates a *deny* rule is flagged (``Job.guardrail_violation`` + ``flagged_at``) and
announced through ``POLICY_FLAG_HOOKS``, where the dispatch capability cancels it. Policy never
changes the job's state itself: cancelling is dispatch's transition to make."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps import audit
from apps.compute.models import ComputeCluster
from apps.jobs.models import ACTIVE_ON_CLUSTER, Job

from .engine import evaluator
from .models import DecisionMode

# Callables (job_id, decision_id, violation_text) run after a job is flagged and the flag committed.
POLICY_FLAG_HOOKS: list = []


@dataclass
class GuardrailResult:
    job_id: int
    status: str  # flagged | still_flagged | cleared | compliant | skipped
    violations: list[dict] = field(default_factory=list)
    decision_id: int | None = None

    @property
    def must_stop(self) -> bool:
        return self.status in ("flagged", "still_flagged")


def deny_violations(results: dict) -> list[dict]:
    """Violations of deny rules (a missing fact under a deny rule counts: fail closed)."""
    return [v for v in evaluator.effective_violations(results) if v["action"] == "deny" and evaluator.blocking(v) == "deny"]


def describe(violations: list[dict]) -> str:
    return "\n".join(f"{v['policy']}: {v['message']}" for v in violations)


def check_running_job(job_id: int) -> GuardrailResult:
    """Re-judge a job on its cluster; flag it (or clear a flag a waiver or a fix made moot)."""
    from .services.admission import _decision, decide, job_project

    job = Job.objects.filter(pk=job_id).only("id", "state", "cluster_id", "guardrail_violation", "flagged_at").first()
    if job is None or job.state not in ACTIVE_ON_CLUSTER or job.cluster_id is None:
        return GuardrailResult(job_id, "skipped")
    cluster_name = ComputeCluster.objects.values_list("name", flat=True).get(pk=job.cluster_id)
    doc, results, rules, seconds = decide(job_id, exclude_self=True, cluster_id=job.cluster_id, target=cluster_name)
    violations = deny_violations(results)
    text = describe(violations)
    with transaction.atomic():
        decision = _decision(job_id, job_project(job_id), DecisionMode.GUARDRAIL, doc, results, rules, seconds)
        if violations:
            if job.flagged_at is not None and job.guardrail_violation == text:
                return GuardrailResult(job_id, "still_flagged", violations, decision.pk)
            Job.objects.filter(pk=job_id).update(guardrail_violation=text, flagged_at=timezone.now(), updated_at=timezone.now())
            audit.record("jobs.job.flag", Job.objects.get(pk=job_id), object_repr=f"job #{job_id}",
                         after={"guardrail_violation": text}, extra={"decision": decision.pk})
            transaction.on_commit(lambda: _announce(job_id, decision.pk, text))
            return GuardrailResult(job_id, "flagged", violations, decision.pk)
        if job.flagged_at is not None:
            Job.objects.filter(pk=job_id).update(guardrail_violation="", flagged_at=None, updated_at=timezone.now())
            audit.record("jobs.job.unflag", Job.objects.get(pk=job_id), object_repr=f"job #{job_id}",
                         before={"guardrail_violation": job.guardrail_violation}, extra={"decision": decision.pk})
            return GuardrailResult(job_id, "cleared", [], decision.pk)
    return GuardrailResult(job_id, "compliant", [], decision.pk)


def _announce(job_id: int, decision_id: int, text: str) -> None:
    for hook in POLICY_FLAG_HOOKS:
        hook(job_id, decision_id, text)


__all__ = ["POLICY_FLAG_HOOKS", "GuardrailResult", "check_running_job", "deny_violations"]
