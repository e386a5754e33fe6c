from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.core.permissions import RestrictedQuerySet


class LegalBasis(models.TextChoices):
    """GDPR Art. 6(1) lawful bases."""

    CONSENT = "consent", "Art. 6(1)(a) consent"
    CONTRACT = "contract", "Art. 6(1)(b) contract"
    LEGAL_OBLIGATION = "legal_obligation", "Art. 6(1)(c) legal obligation"
    VITAL_INTERESTS = "vital_interests", "Art. 6(1)(d) vital interests"
    PUBLIC_TASK = "public_task", "Art. 6(1)(e) public task"
    LEGITIMATE_INTERESTS = "legitimate_interests", "Art. 6(1)(f) legitimate interests"


class ConsentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"
    PENDING = "pending", "Not yet valid"


class ConsentQuerySet(RestrictedQuerySet):
    def expiring_within(self, days: int, now: dt.datetime | None = None) -> "ConsentQuerySet":
        now = now or timezone.now()
        return self.filter(
            status=ConsentStatus.ACTIVE, valid_until__gte=now, valid_until__lte=now + dt.timedelta(days=days)
        )


class ConsentRecord(models.Model):
    """The consent or legal basis data was collected under (GDPR Art. 6, 7, 30): for which
    purposes, in which jurisdictions, for how long, and whether it still holds."""

    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="consents")
    reference = models.CharField(max_length=200, help_text="Receipt, contract or register reference.")
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices)
    purposes = ArrayField(models.CharField(max_length=100), default=list)
    jurisdiction_scope = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    data_subject_categories = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    personal_data_categories = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    controller = models.CharField(max_length=200, blank=True)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ConsentStatus.choices, default=ConsentStatus.ACTIVE)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                name="consent_validity_ordered",
                condition=models.Q(valid_until__isnull=True) | models.Q(valid_until__gt=models.F("valid_from")),
            ),
            models.CheckConstraint(
                name="consent_withdrawal_dated",
                condition=~models.Q(status="withdrawn") | models.Q(withdrawn_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_legal_basis_display()})"

    def clean(self) -> None:
        errors = {}
        if self.valid_until and self.valid_from and self.valid_until <= self.valid_from:
            errors["valid_until"] = "Must be after the start of validity."
        if not self.purposes:
            errors["purposes"] = "Name at least one allowed purpose."
        if self.status == ConsentStatus.WITHDRAWN and not self.withdrawn_at:
            errors["withdrawn_at"] = "A withdrawn consent needs the time of withdrawal."
        if errors:
            raise ValidationError(errors)

    def effective_status(self, at: dt.datetime | None = None) -> str:
        """Withdrawn beats expired beats active; expiry is computed, not waited for."""
        at = at or timezone.now()
        if self.status == ConsentStatus.WITHDRAWN:
            return ConsentStatus.WITHDRAWN
        if self.status == ConsentStatus.EXPIRED or (self.valid_until and self.valid_until <= at):
            return ConsentStatus.EXPIRED
        if self.valid_from and self.valid_from > at:
            return ConsentStatus.PENDING
        return ConsentStatus.ACTIVE
