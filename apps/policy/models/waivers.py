"""Waivers: a time-boxed, approved exception to one policy for a scope."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class WaiverState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    REVOKED = "revoked", "Revoked"


class Waiver(models.Model):
    policy = models.ForeignKey("policy.Policy", on_delete=models.PROTECT, related_name="waivers")
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="waivers",
                                help_text="Empty: every project (only org-wide roles may ask for that).")
    scope = models.JSONField(default=dict, blank=True, help_text="assets (ids), clusters (names), job_kinds; empty: all.")
    justification = models.TextField()
    ticket = models.CharField(max_length=200, help_text="Ticket or change reference.")
    state = models.CharField(max_length=16, choices=WaiverState.choices, default=WaiverState.REQUESTED, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(help_text="Mandatory: every exception ends.")
    decision_note = models.TextField(blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = "project"

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(name="waiver_approver_not_requester",
                                   condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by"))),
            models.CheckConstraint(name="waiver_approved_has_approver",
                                   condition=~models.Q(state="approved") | models.Q(approved_by__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"waiver #{self.pk} of {self.policy_id} ({self.state})"
