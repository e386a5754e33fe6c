"""Admission decisions: what was decided, why (every violation, waived ones included), under which
policy versions, and the facts it saw."""

from __future__ import annotations

from django.db import models

from apps.core.fields import VerbatimJSONField
from apps.core.permissions import RestrictedQuerySet


class Outcome(models.TextChoices):
    ALLOW = "allow", "Allow"
    REQUIRE_APPROVAL = "require_approval", "Require approval"
    DENY = "deny", "Deny"


class DecisionMode(models.TextChoices):
    ADMISSION = "admission", "Admission"
    REEVALUATION = "reevaluation", "Re-evaluation"
    GUARDRAIL = "guardrail", "Guardrail check of a running job"


class Decision(models.Model):
    # Indexed by policy_decision_job (job, -id) below; a second single-column index would only slow inserts.
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="decisions", db_index=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="+", db_index=False)
    mode = models.CharField(max_length=16, choices=DecisionMode.choices, default=DecisionMode.ADMISSION)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    cluster = models.ForeignKey("compute.ComputeCluster", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    summary = models.TextField(blank=True)
    # {"global": [violation...], "clusters": {name: [violation...]}, "chosen": name|None,
    #  "excluded": {name: reason}, "costs": {name: "12.50"}}: every rule result, per candidate cluster.
    results = VerbatimJSONField(default=dict)
    shadow = models.JSONField(default=list, blank=True, help_text="Dry-run versions: [{version_id, policy, outcome, violations}]")
    policy_set = models.JSONField(default=list, help_text="[{policy, version, version_id}] of the active versions used.")
    # The canonical text the fingerprint was computed over, byte for byte (VerbatimJSONField).
    facts = VerbatimJSONField(default=dict, help_text="The facts the decision saw (sensitive values masked).")
    facts_digest = models.CharField(max_length=64)
    error = models.TextField(blank=True, help_text="Set when the decision failed closed.")
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "project"

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["job", "-id"], name="policy_decision_job"),
            models.Index(fields=["project", "-created_at"], name="policy_decision_project"),
            models.Index(fields=["created_at"], name="policy_decision_created"),
        ]

    def __str__(self) -> str:
        return f"decision #{self.pk} for job #{self.job_id}: {self.outcome}"

    # Views of ``results`` for display --------------------------------------------------------

    @property
    def chosen_cluster(self) -> str | None:
        return (self.results or {}).get("chosen")

    @property
    def violations(self) -> list[dict]:
        """The violations that made the outcome: global ones plus the chosen (or only) cluster's."""
        from apps.policy.engine.evaluator import effective_violations

        return effective_violations(self.results or {})

    @property
    def rejected_clusters(self) -> list[dict]:
        from apps.policy.engine.evaluator import rejected_clusters

        return rejected_clusters(self.results or {})
