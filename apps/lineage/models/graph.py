"""Jobs, runs and the edges of the lineage graph.

Graph nodes are catalog assets (datasets, models, fine-tunes) and jobs. An edge row holds two
*node ids*: an asset's id (positive) or a job's id negated (negative), so one bigint column pair
and two indexes carry the whole graph and a recursive CTE walks it without joins. The view
``lineage_graph_edge`` adds the catalog's own lineage (a fine-tune's base model and training
datasets) to these edges (migration 0001)."""

from __future__ import annotations

from django.db import models

from apps.core.permissions import RestrictedQuerySet


class Namespace(models.Model):
    """A namespace seen in lineage (a scheduler for jobs, a storage location for datasets)."""

    name = models.TextField(unique=True)
    has_jobs = models.BooleanField(default=False)
    has_datasets = models.BooleanField(default=False)
    first_seen = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="lineage_jobs", db_index=False)
    namespace = models.TextField()
    name = models.TextField()
    description = models.TextField(blank=True)
    job_type = models.CharField(max_length=200, blank=True, help_text="From the jobType facet: processing type, integration, job type.")
    owners = models.JSONField(default=list, blank=True)
    source_code_location = models.TextField(blank=True)
    sql = models.TextField(blank=True)
    facets = models.JSONField(default=dict, blank=True, help_text="The job facets last received.")
    facets_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "project"

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "namespace", "name"], name="lineage_job_unique")]
        # Graph walks return each job's project for visibility: read from this index alone.
        indexes = [models.Index(fields=["id"], include=["project"], name="lineage_job_id_project")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def node_id(self) -> int:
        return -self.pk


class RunState(models.TextChoices):
    NEW = "NEW", "New"
    RUNNING = "RUNNING", "Running"
    COMPLETED = "COMPLETED", "Completed"
    ABORTED = "ABORTED", "Aborted"
    FAILED = "FAILED", "Failed"


# OpenLineage event type → the run state it moves to (OTHER adds metadata, no state).
STATE_FOR_EVENT = {"START": RunState.RUNNING, "RUNNING": RunState.RUNNING, "COMPLETE": RunState.COMPLETED,
                   "ABORT": RunState.ABORTED, "FAIL": RunState.FAILED}
TERMINAL_EVENTS = {"COMPLETE", "ABORT", "FAIL"}


class Run(models.Model):
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="runs", db_index=False)
    run_uuid = models.UUIDField()
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.NEW)
    state_time = models.DateTimeField(null=True, blank=True, help_text="Event time of the event that set the state.")
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    nominal_start = models.DateTimeField(null=True, blank=True)
    nominal_end = models.DateTimeField(null=True, blank=True)
    parent_run_uuid = models.UUIDField(null=True, blank=True)
    parent_job = models.TextField(blank=True)
    error_message = models.TextField(blank=True)
    facets = models.JSONField(default=dict, blank=True, help_text="Run facets received, the latest of each key.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "job__project"

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["job", "run_uuid"], name="lineage_run_unique")]
        indexes = [
            models.Index(fields=["run_uuid"], name="lineage_run_uuid"),
            models.Index(fields=["job", "-id"], name="lineage_run_job_id"),
        ]

    def __str__(self) -> str:
        return f"{self.job} run {self.run_uuid}"


class RunTransition(models.Model):
    """One event of a run: its type and time, and the raw event it came from."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="transitions", db_index=False)
    event_type = models.CharField(max_length=16, blank=True)
    event_time = models.DateTimeField()
    raw_event = models.ForeignKey("lineage.RawEvent", on_delete=models.CASCADE, related_name="+", db_index=False)

    objects = RestrictedQuerySet.as_manager()
    project_field = "run__job__project"

    class Meta:
        ordering = ["run_id", "event_time", "id"]
        indexes = [models.Index(fields=["run", "event_time"], name="lineage_transition_run")]

    def __str__(self) -> str:
        return f"{self.event_type or 'event'} at {self.event_time:%Y-%m-%d %H:%M:%S}"


class RunIO(models.Model):
    """A dataset or model a run read (``in``) or wrote (``out``)."""

    pk = models.CompositePrimaryKey("run_id", "asset_id", "direction")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="io", db_index=False)
    asset = models.ForeignKey("catalog.Asset", on_delete=models.CASCADE, related_name="+", db_index=False)
    direction = models.CharField(max_length=3, choices=[("in", "input"), ("out", "output")])

    class Meta:
        indexes = [models.Index(fields=["asset", "run"], name="lineage_runio_asset")]

    def __str__(self) -> str:
        return f"run {self.run_id} {'read' if self.direction == 'in' else 'wrote'} asset {self.asset_id}"


class Edge(models.Model):
    """Job-level lineage: asset → job (the job reads it) or job → asset (the job writes it). Node
    ids: assets positive, jobs negated. Once seen, an edge stays: data derived from a source keeps
    that source's constraints even after the job stops reading it."""

    pk = models.CompositePrimaryKey("src", "dst")
    src = models.BigIntegerField()
    dst = models.BigIntegerField()
    first_seen = models.DateTimeField()
    first_event_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["dst", "src"], name="lineage_edge_dst")]

    def __str__(self) -> str:
        return f"{self.src} → {self.dst}"
