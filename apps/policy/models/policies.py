"""Policies (one rule each: a built-in template with parameters, or a custom Rego module), their
immutable versions, and the test runs that gate activation."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class Template(models.TextChoices):
    RESIDENCY = "residency", "Residency and cross-border transfer"
    PURPOSE = "purpose", "Purpose limitation"
    CONSENT = "consent", "Consent and legal basis"
    CLASSIFICATION = "classification", "Classification vs cluster security tier"
    CONFIDENTIAL_COMPUTING = "confidential_computing", "Confidential computing for classified data"
    TRUSTED_IMAGES = "trusted_images", "Trusted container images"
    BUDGET = "budget", "Project budget"
    GPU_QUOTA = "gpu_quota", "GPU quota per project"
    EVALUATION_GATE = "evaluation_gate", "Evaluation gate for serving"
    REGO = "rego", "Custom rule (Rego)"


class Action(models.TextChoices):
    """What a violation does to the decision."""

    DENY = "deny", "Deny"
    REQUIRE_APPROVAL = "require_approval", "Require approval"
    WARN = "warn", "Warn"
    DRY_RUN = "dry_run", "Dry run (record only)"


class VersionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    REVIEW = "review", "In review"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


# Columns a version may change only while it is a draft (a trigger enforces it, migration 0002).
CONTENT_FIELDS = ("action", "params", "scope", "rego_source", "tests")


class Policy(models.Model):
    """A named rule. Its behaviour lives in its versions; at most one version is active."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    template = models.CharField(max_length=32, choices=Template.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_policies")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = None  # organisation-wide; scope narrows where it applies

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.slug

    @property
    def active_version(self) -> "PolicyVersion | None":
        return self.versions.filter(state=VersionState.ACTIVE).first()


class PolicyVersion(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=VersionState.choices, default=VersionState.DRAFT, db_index=True)
    action = models.CharField(max_length=20, choices=Action.choices, default=Action.DENY)
    params = models.JSONField(default=dict, blank=True)
    scope = models.JSONField(default=dict, blank=True, help_text="projects, clusters, asset_tags, job_kinds (empty: all).")
    rego_source = models.TextField(blank=True)
    tests = models.JSONField(default=list, blank=True, help_text="[{name, input, expect: [{rule?, asset?}]}]")
    change_note = models.TextField(blank=True)
    shadow = models.BooleanField(default=False, help_text="Evaluate on live jobs without enforcing (dry run), while in review.")
    authored_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    content_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["policy_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="policy_version_number"),
            models.UniqueConstraint(fields=["policy"], condition=models.Q(state="active"), name="policy_one_active_version"),
            models.CheckConstraint(name="policy_version_approver_not_author",
                                   condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("authored_by"))),
        ]

    def __str__(self) -> str:
        return f"{self.policy.slug} v{self.number}"

    @property
    def is_frozen(self) -> bool:
        return self.state != VersionState.DRAFT


class PolicyTestRun(models.Model):
    """One run of a version's tests; activation needs a passing run of the exact content."""

    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="test_runs")
    content_digest = models.CharField(max_length=64)
    passed = models.BooleanField()
    results = models.JSONField(default=list)
    ran_by = models.CharField(max_length=200)
    ran_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self) -> str:
        return f"test run #{self.pk} of version {self.policy_version_id}: {'passed' if self.passed else 'failed'}"


class WhatIfReport(models.Model):
    """A replay of a version against the stored facts of past decisions."""

    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="whatif_reports")
    days = models.PositiveIntegerField()
    jobs_replayed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict)
    requested_by = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    duration_s = models.FloatField(default=0)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"what-if #{self.pk} of version {self.policy_version_id} ({self.days} days)"
