"""Jobs: training, fine-tuning, inference and evaluation requests, and their life as a state
machine kept in PostgreSQL. Every transition is a compare-and-swap (see services.transition), so
two workers can never both move a job."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class JobKind(models.TextChoices):
    TRAINING = "training", "Training"
    FINE_TUNING = "fine_tuning", "Fine-tuning"
    INFERENCE = "inference", "Inference"
    EVALUATION = "evaluation", "Evaluation"


class JobState(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    EVALUATING = "evaluating", "Evaluating"
    DENIED = "denied", "Denied"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    DISPATCHING = "dispatching", "Dispatching"  # intent recorded, scheduler submission in flight
    DISPATCHED = "dispatched", "Dispatched"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"  # asked the scheduler, not yet gone
    STOPPED = "stopped", "Stopped"  # the scheduler confirmed a cancelled job is gone
    CANCELLED = "cancelled", "Cancelled"  # withdrawn before it reached a scheduler


TERMINAL_STATES = frozenset({JobState.DENIED, JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED, JobState.CANCELLED})
ACTIVE_ON_CLUSTER = frozenset({JobState.DISPATCHING, JobState.DISPATCHED, JobState.RUNNING, JobState.CANCEL_REQUESTED})

TRANSITIONS: dict[str, frozenset[str]] = {
    JobState.SUBMITTED: frozenset({JobState.EVALUATING, JobState.CANCELLED}),
    # evaluating → submitted: a worker died mid-evaluation and the reaper hands it back.
    JobState.EVALUATING: frozenset({JobState.DENIED, JobState.AWAITING_APPROVAL, JobState.APPROVED, JobState.SUBMITTED}),
    JobState.AWAITING_APPROVAL: frozenset({JobState.APPROVED, JobState.DENIED, JobState.EVALUATING, JobState.CANCELLED}),
    JobState.APPROVED: frozenset({JobState.DISPATCHING, JobState.EVALUATING, JobState.DENIED, JobState.CANCELLED}),
    JobState.DISPATCHING: frozenset({JobState.DISPATCHED, JobState.RUNNING, JobState.FAILED, JobState.CANCEL_REQUESTED}),
    JobState.DISPATCHED: frozenset({JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCEL_REQUESTED}),
    JobState.RUNNING: frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCEL_REQUESTED}),
    JobState.CANCEL_REQUESTED: frozenset({JobState.STOPPED, JobState.SUCCEEDED, JobState.FAILED}),
    JobState.DENIED: frozenset({JobState.EVALUATING}),  # a resubmission after a policy or fact change
}


class JobQuerySet(RestrictedQuerySet):
    def active(self) -> "JobQuerySet":
        return self.exclude(state__in=TERMINAL_STATES)

    def on_cluster(self) -> "JobQuerySet":
        return self.filter(state__in=ACTIVE_ON_CLUSTER)


class Job(models.Model):
    # Indexes are in Meta: every admission moves a job twice, and a state change rewrites every
    # index of the row, so none is redundant (job_project_state serves project lookups; state is
    # only ever matched exactly, so no LIKE index).
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="jobs", db_index=False)
    kind = models.CharField(max_length=16, choices=JobKind.choices)
    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.SUBMITTED)
    purpose = models.CharField(max_length=100, help_text="A code from the purpose taxonomy.")
    inputs = models.ManyToManyField("catalog.Asset", through="JobInput", related_name="jobs")
    output_name = models.CharField(max_length=500, blank=True, help_text="The model or fine-tune the job will produce.")
    output_namespace = models.CharField(max_length=500, blank=True)
    target_cluster = models.ForeignKey("compute.ComputeCluster", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+", help_text="Empty: any allowed cluster (govhub picks the cheapest).")
    cluster = models.ForeignKey("compute.ComputeCluster", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="jobs", help_text="Where the job was placed.")
    serving_jurisdiction = models.CharField(max_length=8, blank=True, help_text="For inference: where it is served.")
    image = models.CharField(max_length=500, help_text="Container image, pinned by sha256 digest.")
    command = ArrayField(models.CharField(max_length=2000), default=list, blank=True)
    gpus = models.PositiveIntegerField(default=1)
    estimated_hours = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))])
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_jobs")
    idempotency_key = models.CharField(max_length=200, blank=True)
    request_digest = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the submitted body (idempotent retries).")
    state_reason = models.TextField(blank=True)
    # Admission (the policy capability fills these through services.transition).
    last_decision = models.ForeignKey("policy.Decision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True,
                                         help_text="GPUs × hours × the placed cluster's price, fixed at admission.")
    cost_currency = models.CharField(max_length=3, blank=True)
    evaluation_attempts = models.PositiveSmallIntegerField(default=0)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    # Continuous evaluation: set when a running job now violates a deny rule (the guardrail cancels it).
    guardrail_violation = models.TextField(blank=True)
    flagged_at = models.DateTimeField(null=True, blank=True)
    # Dispatch bookkeeping (the dispatch capability fills these).
    scheduler_job_id = models.CharField(max_length=200, blank=True)
    dispatch_attempt = models.UUIDField(null=True, blank=True, help_text="Intent id recorded before submission.")
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["requested_by", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                                    name="job_idempotency_key"),
            models.CheckConstraint(name="job_approver_not_requester",
                                   condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by"))),
        ]
        indexes = [models.Index(fields=["project", "state"], name="job_project_state"),
                   models.Index(fields=["state"], name="job_state")]

    def __str__(self) -> str:
        return f"job #{self.pk} ({self.kind}, {self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_flagged(self) -> bool:
        """A running job that now violates a deny rule: the guardrail should cancel it."""
        return self.flagged_at is not None


class InputRole(models.TextChoices):
    DATA = "data", "Data"
    BASE_MODEL = "base_model", "Base model"
    MODEL = "model", "Model"


class JobInput(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="job_inputs")
    asset = models.ForeignKey("catalog.Asset", on_delete=models.PROTECT, related_name="job_inputs")
    dataset_version = models.ForeignKey("catalog.DatasetVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=16, choices=InputRole.choices, default=InputRole.DATA)

    objects = RestrictedQuerySet.as_manager()
    project_field = "job__project"

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "asset", "dataset_version"], name="job_input_unique")]

    def __str__(self) -> str:
        return f"input {self.asset_id} ({self.role}) of job #{self.job_id}"


class JobTransition(models.Model):
    """The job's history; the same facts are in the audit ledger, this table serves timelines."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=20, choices=JobState.choices)
    to_state = models.CharField(max_length=20, choices=JobState.choices)
    reason = models.TextField(blank=True)
    actor_label = models.CharField(max_length=200)
    at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "job__project"

    class Meta:
        ordering = ["job_id", "at", "id"]

    def __str__(self) -> str:
        return f"job #{self.job_id}: {self.from_state} → {self.to_state}"
