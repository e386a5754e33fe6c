"""Reference facts the rules need beyond the catalog: cross-border transfer rules, the languages
of each jurisdiction, model evaluations, and project budgets."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class TransferBasis(models.TextChoices):
    INTRA_BLOC = "intra_bloc", "Free flow within a bloc"
    ADEQUACY = "adequacy", "Adequacy decision"
    SCC = "scc", "Standard contractual clauses"
    BCR = "bcr", "Binding corporate rules"


class TransferRule(models.Model):
    """Personal data originating in ``origin`` may be processed in ``destination`` on ``basis``.
    Either side may be a bloc (expanded to its members)."""

    origin = models.ForeignKey("catalog.Jurisdiction", on_delete=models.PROTECT, related_name="+")
    destination = models.ForeignKey("catalog.Jurisdiction", on_delete=models.PROTECT, related_name="+")
    basis = models.CharField(max_length=16, choices=TransferBasis.choices)
    reference = models.CharField(max_length=300, blank=True, help_text="The legal instrument, e.g. an adequacy decision.")
    valid_until = models.DateTimeField(null=True, blank=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["origin_id", "destination_id"]
        constraints = [models.UniqueConstraint(fields=["origin", "destination", "basis"], name="transfer_rule_unique")]

    def __str__(self) -> str:
        return f"{self.origin_id} → {self.destination_id} ({self.basis})"


class JurisdictionLanguage(models.Model):
    """The languages a model must be evaluated in to be served in a jurisdiction."""

    jurisdiction = models.OneToOneField("catalog.Jurisdiction", primary_key=True, on_delete=models.CASCADE, related_name="+")
    languages = ArrayField(models.CharField(max_length=16))

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["jurisdiction_id"]

    def __str__(self) -> str:
        return f"{self.jurisdiction_id}: {', '.join(self.languages)}"


class EvaluationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class ModelEvaluation(models.Model):
    model = models.ForeignKey("catalog.Asset", on_delete=models.CASCADE, related_name="evaluations")
    language = models.CharField(max_length=16, help_text="BCP 47 language tag, e.g. de, ar.")
    jurisdictions = ArrayField(models.CharField(max_length=8), help_text="Where the evaluation holds (blocs allowed).")
    status = models.CharField(max_length=16, choices=EvaluationStatus.choices, default=EvaluationStatus.PENDING)
    evaluator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    report_url = models.CharField(max_length=500, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = "model__project"

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["model", "status"], name="policy_eval_model_status")]
        constraints = [
            models.CheckConstraint(name="evaluation_approver_not_evaluator",
                                   condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("evaluator"))),
        ]

    def __str__(self) -> str:
        return f"evaluation of {self.model_id} in {self.language} ({self.status})"


class Budget(models.Model):
    """A project's money budget for GPU time (the dispatch capability extends it)."""

    project = models.OneToOneField("accounts.Project", on_delete=models.CASCADE, related_name="budget")
    amount = models.DecimalField(max_digits=14, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(max_length=3, default="EUR")
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = "project"

    def __str__(self) -> str:
        return f"{self.project} budget {self.amount} {self.currency}"
