"""Regulator exports: one row per requested bundle, its scope, and the progress of the Celery
task that builds it (PostgreSQL holds job state; the UI and the API poll this row)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class ExportState(models.TextChoices):
    PENDING = "pending", "Queued"
    RUNNING = "running", "Building"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (file removed)"


class Export(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_label = models.CharField(max_length=200, help_text="Who asked, as the audit actor label.")
    requested_at = models.DateTimeField(auto_now_add=True)
    # Scope: a time range, optionally one project or one asset (with everything upstream of it).
    since = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: up to the moment the export is built.")
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    asset = models.ForeignKey("catalog.Asset", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    pin_size = models.BigIntegerField(null=True, blank=True, help_text="A tree size the recipient pinned: prove consistency from it.")
    # Progress and result.
    state = models.CharField(max_length=16, choices=ExportState.choices, default=ExportState.PENDING, db_index=True)
    phase = models.CharField(max_length=32, default="queued")
    rows_total = models.BigIntegerField(default=0)
    rows_done = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life from the worker building it.")
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    tree_size = models.BigIntegerField(null=True, blank=True)
    root_hash = models.CharField(max_length=64, blank=True)
    events_in_scope = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=300, blank=True)
    file_size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = "project"

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.CheckConstraint(name="export_until_after_since",
                                   condition=models.Q(until__isnull=True) | models.Q(until__gt=models.F("since"))),
        ]

    def __str__(self) -> str:
        return f"export {str(self.id)[:8]} ({self.get_state_display()})"

    @property
    def percent(self) -> int:
        if self.state == ExportState.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_total))

    @property
    def finished(self) -> bool:
        return self.state in (ExportState.DONE, ExportState.FAILED, ExportState.EXPIRED)

    def scope_json(self) -> dict:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat() if self.until else None,
            "project": {"id": self.project_id, "slug": self.project.slug} if self.project_id else None,
            "asset": {"id": self.asset_id, "name": str(self.asset)} if self.asset_id else None,
        }
