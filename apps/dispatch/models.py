"""Dispatch data: how govhub reaches each cluster, what every job used, the run-time limits of
each project's budget, and the notifications guardrails send. Job state itself stays on ``jobs.Job`` (moved only by
``apps.jobs.services.transition``)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.core.permissions import RestrictedQuerySet


class Backend(models.TextChoices):
    LOCAL = "local", "Local runner (subprocess on the govhub host)"
    SLURM_REST = "slurm_rest", "Slurm via slurmrestd (REST, JWT)"
    SLURM_CLI = "slurm_cli", "Slurm via sbatch/squeue/scancel"
    KUBERNETES = "kubernetes", "Kubernetes batch/v1 Jobs"


class ClusterConnection(models.Model):
    """How govhub reaches a cluster's scheduler and its GPU telemetry. Secrets are never stored
    here: options name files or environment variables that hold them (docs/dispatch.md)."""

    cluster = models.OneToOneField("compute.ComputeCluster", on_delete=models.CASCADE, related_name="connection")
    backend = models.CharField(max_length=16, choices=Backend.choices)
    options = models.JSONField(default=dict, blank=True, help_text="Backend options (URL, API version, partition, namespace…).")
    telemetry_source = models.CharField(
        max_length=500, blank=True,
        help_text="Where DCGM exporter metrics are read: an http(s):// URL or a file path. Empty: estimate energy.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = None  # global reference data, like clusters

    def __str__(self) -> str:
        return f"{self.cluster} via {self.get_backend_display()}"

    def clean(self) -> None:
        from workers.dispatch import options_error

        problem = options_error(self.backend, self.options or {})
        if problem:
            raise ValidationError({"options": problem})


class BudgetLimits(models.Model):
    """Extends the policy app's ``Budget`` (a project's money amount and currency) with what
    dispatch enforces at run time: limits on GPU-hours and energy, a warning and a hard threshold
    (percent of each limit), the period the spend is counted over, and the GPU quota (GPUs the
    project may hold at once). Written only through ``apps.dispatch.usage.set_budget``."""

    budget = models.OneToOneField("policy.Budget", on_delete=models.CASCADE, primary_key=True, related_name="limits")
    period_start = models.DateTimeField(default=timezone.now)
    period_end = models.DateTimeField(null=True, blank=True)
    gpu_hours_limit = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)])
    energy_kwh_limit = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(0)])
    max_concurrent_gpus = models.PositiveIntegerField(null=True, blank=True, help_text="GPU quota: GPUs the project may hold at once.")
    warn_percent = models.PositiveSmallIntegerField(default=80, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    hard_percent = models.PositiveSmallIntegerField(default=100, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    warned_at = models.DateTimeField(null=True, blank=True)
    exceeded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = "budget__project"

    class Meta:
        verbose_name_plural = "budget limits"
        constraints = [
            models.CheckConstraint(name="budget_warn_le_hard", condition=models.Q(warn_percent__lte=models.F("hard_percent"))),
            models.CheckConstraint(name="budget_period_ordered",
                                   condition=models.Q(period_end__isnull=True) | models.Q(period_end__gt=models.F("period_start"))),
        ]

    def __str__(self) -> str:
        return f"limits of {self.budget}"

    def clean(self) -> None:
        if self.warn_percent and self.hard_percent and self.warn_percent > self.hard_percent:
            raise ValidationError({"warn_percent": "The warning threshold must not be above the hard threshold."})
        if self.period_end and self.period_start and self.period_end <= self.period_start:
            raise ValidationError({"period_end": "Must be after the start of the period."})


class EnergySource(models.TextChoices):
    NONE = "", "Not measured yet"
    TELEMETRY = "telemetry", "GPU telemetry (DCGM)"
    ESTIMATE = "estimate", "Estimate (GPUs × power × time)"


class UsageRecord(models.Model):
    """One job's run on a cluster: dispatch timings, the scheduler's last word, and cumulative
    usage (GPU-hours, energy, cost, CO₂e). ``UsageSample`` rows hold the same usage as deltas over
    time for burn-down charts."""

    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, primary_key=True, related_name="usage")
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="+")
    cluster = models.ForeignKey("compute.ComputeCluster", on_delete=models.PROTECT, related_name="usage_records")
    backend = models.CharField(max_length=16, choices=Backend.choices)
    scheduler_tag = models.CharField(max_length=200, blank=True, help_text="The name/label the scheduler job carries.")
    scheduler_state = models.CharField(max_length=40, blank=True)
    gpus = models.PositiveIntegerField(default=0)
    gpu_hours = models.FloatField(default=0)
    energy_kwh = models.FloatField(default=0)
    energy_source = models.CharField(max_length=16, choices=EnergySource.choices, default=EnergySource.NONE, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="EUR")
    co2e_kg = models.FloatField(default=0)
    power_w = models.FloatField(null=True, blank=True)
    gpu_util_percent = models.FloatField(null=True, blank=True)
    fb_used_mib = models.FloatField(null=True, blank=True)
    telemetry_counters = models.JSONField(default=dict, blank=True, help_text="Last energy counter (mJ) per GPU UUID.")
    measured_until = models.DateTimeField(null=True, blank=True)
    # Dispatch timings (govhub's own share of the latency is computed from these).
    approved_at = models.DateTimeField(null=True, blank=True)
    submit_started_at = models.DateTimeField(null=True, blank=True)
    submit_finished_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)
    running_seen_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_acked_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["project", "cluster"], name="usage_project_cluster")]

    def __str__(self) -> str:
        return f"usage of job #{self.job_id}"

    @property
    def govhub_dispatch_seconds(self) -> float | None:
        """Approved → submit call started, plus submit call returned → recorded."""
        if not (self.approved_at and self.submit_started_at and self.submit_finished_at and self.recorded_at):
            return None
        return ((self.submit_started_at - self.approved_at) + (self.recorded_at - self.submit_finished_at)).total_seconds()


class UsageSample(models.Model):
    """Usage added between two polls of one job (deltas), for burn-down charts and forecasts."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="usage_samples")
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="+")
    cluster = models.ForeignKey("compute.ComputeCluster", on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    gpu_hours = models.FloatField(default=0)
    energy_kwh = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    co2e_kg = models.FloatField(default=0)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["project", "at"], name="usage_sample_project_at")]

    def __str__(self) -> str:
        return f"usage of job #{self.job_id} until {self.at:%Y-%m-%d %H:%M}"


class NotificationKind(models.TextChoices):
    GUARDRAIL_CANCEL = "guardrail_cancel", "Job stopped by a guardrail"
    BUDGET_WARNING = "budget_warning", "Budget warning threshold reached"
    BUDGET_EXCEEDED = "budget_exceeded", "Budget hard threshold reached"
    DISPATCH_REFUSED = "dispatch_refused", "Dispatch refused"
    DISPATCH_FAILED = "dispatch_failed", "Dispatch failed"


class Notification(models.Model):
    """A message to a person (also sent by email through Django's email backend)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"], name="notification_user_created")]

    def __str__(self) -> str:
        return self.subject
