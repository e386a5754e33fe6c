"""What-if: replay a policy version against the stored facts of the last N days of jobs and report
which past decisions would change (allow ↔ deny), by rule, project and dataset.

Each job's latest decision stored every rule's result per candidate cluster, and the facts it saw.
Rules are deterministic functions of those facts, so a replay swaps only this policy's results
(old version out, candidate in), re-applies waivers and re-chooses the cluster: exactly the decision
the candidate would have produced, at the cost of one rule per job. Waivers are those that applied
when each job was decided (approved by then, not yet revoked or expired), so a change in the report
is the version's doing, not a waiver's that has lapsed since."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps import audit
from apps.core import context

from ..engine import evaluator
from ..models import PolicyVersion, Waiver, WaiverState, WhatIfReport
from . import ruleset

SAMPLES = 200
CHUNK = 2000

_SQL = """
SELECT d.job_id, p.slug, d.results::text, d.facts::text, d.created_at
FROM jobs_job j
JOIN policy_decision d ON d.id = j.last_decision_id
JOIN accounts_project p ON p.id = j.project_id
WHERE j.submitted_at >= %s
ORDER BY j.id
"""


def _labels(violations: list[dict]) -> set[tuple[Any, str]]:
    return {(v.get("asset") or v.get("upstream") or "", v["message"]) for v in violations if evaluator.blocking(v)}


def _waiver_history(version: PolicyVersion) -> list[tuple[dict[str, Any], dt.datetime, dt.datetime | None]]:
    """Every waiver of this policy that was ever approved: (spec, approved at, revoked at)."""
    found = (Waiver.objects.select_related("policy", "project")
             .filter(policy_id=version.policy_id, approved_at__isnull=False, state__in=[WaiverState.APPROVED, WaiverState.REVOKED]))
    return [(ruleset.waiver_spec(w), w.approved_at, w.revoked_at if w.state == WaiverState.REVOKED else None) for w in found]


def replay(version: PolicyVersion, days: int) -> dict[str, Any]:
    """The report (not stored): counts, transitions, groupings and a sample of changed jobs."""
    started = time.perf_counter()
    rule = ruleset.compile_version(version)
    history = _waiver_history(version)
    now = timezone.now()
    since = now - dt.timedelta(days=days)
    policy = version.policy.slug
    total = changed = 0
    transitions: Counter[str] = Counter()
    by_project: Counter[str] = Counter()
    by_dataset: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    samples: list[dict[str, Any]] = []
    with transaction.atomic(), connection.cursor() as cur:  # a server-side cursor needs a transaction
        cur.execute("SET LOCAL jit = off")
        named = connection.connection.cursor(name=f"whatif_{version.pk}")
        named.itersize = CHUNK
        named.execute(_SQL, [since])
        for job_id, project, results_text, facts_text, decided_at in named:
            total += 1
            results = json.loads(results_text)
            if not results.get("clusters") and not results.get("global"):
                continue
            doc = json.loads(facts_text)
            before = results.get("outcome")
            waivers = [spec for spec, approved, revoked in history if approved <= decided_at and (revoked is None or revoked > decided_at)]
            after_results = evaluator.substitute(results, doc, policy, rule, waivers, decided_at)
            after = after_results["outcome"]
            if after == before:
                continue
            changed += 1
            transitions[f"{before} → {after}"] += 1
            by_project[project] += 1
            old = _labels([v for v in evaluator.effective_violations(results) if v["policy"] == policy])
            new = _labels([v for v in evaluator.effective_violations(after_results) if v["policy"] == policy])
            for asset, _msg in old ^ new:
                if asset:
                    by_dataset[asset] += 1
            by_rule[f"{policy} ({'now blocks' if new - old else 'no longer blocks'})"] += 1
            if len(samples) < SAMPLES:
                samples.append({"job_id": job_id, "project": project, "before": before, "after": after,
                                "cluster_before": results.get("chosen"), "cluster_after": after_results.get("chosen"),
                                "added": sorted(m for _a, m in new - old), "removed": sorted(m for _a, m in old - new)})
        named.close()
    return {"status": "done", "days": days, "replayed": total, "changed": changed, "transitions": dict(transitions),
            "by_project": dict(by_project.most_common()), "by_dataset": dict(by_dataset.most_common(50)),
            "by_rule": dict(by_rule), "samples": samples, "seconds": round(time.perf_counter() - started, 3)}


def queue_whatif(version: PolicyVersion, days: int) -> WhatIfReport:
    if not 1 <= days <= 365:
        from django.core.exceptions import ValidationError

        raise ValidationError({"days": "Between 1 and 365 days."})
    with transaction.atomic():
        report = WhatIfReport.objects.create(policy_version=version, days=days, summary={"status": "running"},
                                             requested_by=context.current_actor().label, created_at=timezone.now())
        audit.record("policy.whatif.request", version, object_repr=str(version), after={"days": days, "report": report.pk})
        transaction.on_commit(lambda: _enqueue(report.pk))
    return report


def _enqueue(report_id: int) -> None:
    from workers.policy_tasks import run_whatif

    run_whatif.delay(report_id)


def complete(report_id: int) -> WhatIfReport | None:
    """Run a queued report (idempotent: a finished report is left as it is)."""
    report = WhatIfReport.objects.select_related("policy_version__policy").filter(pk=report_id).first()
    if report is None or report.summary.get("status") == "done":
        return report
    try:
        summary = replay(report.policy_version, report.days)
    except Exception as exc:
        summary = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    with transaction.atomic():
        WhatIfReport.objects.filter(pk=report_id).update(summary=summary, jobs_replayed=summary.get("replayed", 0),
                                                         changed=summary.get("changed", 0), duration_s=summary.get("seconds", 0))
        audit.record("policy.whatif.complete", report.policy_version, object_repr=str(report.policy_version),
                     after={"report": report_id, "status": summary["status"], "changed": summary.get("changed")})
    return WhatIfReport.objects.get(pk=report_id)
