from __future__ import annotations

from django.db import models

from apps.core.permissions import RestrictedQuerySet


class EventKind(models.TextChoices):
    RUN = "run", "RunEvent"
    DATASET = "dataset", "DatasetEvent"
    JOB = "job", "JobEvent"


class RawEvent(models.Model):
    """Every accepted OpenLineage event, as received (canonical JSON in JSONB). The normalized graph
    is built from these and could be rebuilt from them. ``digest`` is the SHA-256 of the canonical
    JSON (sorted keys, no whitespace): re-posting an event changes nothing."""

    id = models.BigAutoField(primary_key=True)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="+", db_index=False)
    digest = models.BinaryField(max_length=32, unique=True)
    kind = models.CharField(max_length=8, choices=EventKind.choices)
    event_type = models.CharField(max_length=16, blank=True)
    event_time = models.DateTimeField()
    received_at = models.DateTimeField()
    producer = models.TextField(blank=True)
    schema_url = models.TextField(blank=True)
    run_uuid = models.UUIDField(null=True, blank=True)
    job_namespace = models.TextField(blank=True)
    job_name = models.TextField(blank=True)
    submitted_by_id = models.BigIntegerField(null=True, blank=True, help_text="The account that posted it (a plain value, like the audit ledger).")
    payload = models.JSONField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "project"

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "-id"], name="lineage_raw_project_id"),
            models.Index(fields=["run_uuid"], name="lineage_raw_run_uuid"),
        ]

    def __str__(self) -> str:
        what = f"{self.event_type} " if self.event_type else ""
        return f"{what}{self.get_kind_display()} {self.job_namespace}/{self.job_name}".strip()
