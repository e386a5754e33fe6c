"""What lineage says about datasets beyond the catalog row: aliases (symlinks), the facets last
seen, columns and column-level lineage."""

from __future__ import annotations

from django.db import models

from apps.core.permissions import RestrictedQuerySet


class DatasetAlias(models.Model):
    """Another name of a catalog asset (OpenLineage ``symlinks``: a table's path and its catalog
    name), so events using either find the same asset."""

    namespace = models.CharField(max_length=500)
    name = models.CharField(max_length=500)
    asset = models.ForeignKey("catalog.Asset", on_delete=models.CASCADE, related_name="lineage_aliases")
    alias_type = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["namespace", "name"], name="lineage_alias_unique")]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name} → {self.asset_id}"


class DatasetMeta(models.Model):
    """The facets lineage last applied to an asset, and the digest that lets a repeat be skipped."""

    asset = models.OneToOneField("catalog.Asset", primary_key=True, on_delete=models.CASCADE, related_name="lineage_meta")
    dataset_type = models.CharField(max_length=64, blank=True)
    owners = models.JSONField(default=list, blank=True)
    documentation = models.TextField(blank=True)
    facets = models.JSONField(default=dict, blank=True)
    facets_digest = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "asset__project"

    def __str__(self) -> str:
        return f"lineage metadata of asset {self.asset_id}"


class DatasetField(models.Model):
    """A column (a nested field's name is its dotted path)."""

    asset = models.ForeignKey("catalog.Asset", on_delete=models.CASCADE, related_name="lineage_fields", db_index=False)
    name = models.CharField(max_length=500)
    data_type = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    ordinal = models.IntegerField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    in_schema = models.BooleanField(default=False, help_text="Listed by the latest schema facet (else known from column lineage only).")
    first_seen = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "asset__project"

    class Meta:
        ordering = ["asset_id", "ordinal", "name"]
        constraints = [models.UniqueConstraint(fields=["asset", "name"], name="lineage_field_unique")]

    def __str__(self) -> str:
        return self.name


class ColumnEdge(models.Model):
    """Column-level lineage from the ``columnLineage`` facet: ``src`` feeds ``dst`` (``dst`` empty:
    the source column affects the whole output dataset, e.g. a filter or a join key)."""

    src = models.ForeignKey(DatasetField, on_delete=models.CASCADE, related_name="downstream_edges", db_index=False)
    dst = models.ForeignKey(DatasetField, null=True, blank=True, on_delete=models.CASCADE, related_name="upstream_edges", db_index=False)
    dst_asset = models.ForeignKey("catalog.Asset", on_delete=models.CASCADE, related_name="+", db_index=False)
    transformation_type = models.CharField(max_length=32, blank=True, help_text="DIRECT or INDIRECT (or the older IDENTITY/MASKED).")
    subtype = models.CharField(max_length=64, blank=True, help_text="IDENTITY, TRANSFORMATION, AGGREGATION, FILTER, JOIN, …")
    description = models.TextField(blank=True)
    masking = models.BooleanField(default=False)
    job = models.ForeignKey("lineage.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_seen = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "dst_asset__project"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["src", "dst", "dst_asset", "transformation_type", "subtype"],
                                    name="lineage_column_edge_unique", nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["dst"], name="lineage_coledge_dst"),
                   models.Index(fields=["dst_asset"], name="lineage_coledge_dst_asset")]

    def __str__(self) -> str:
        return f"column {self.src_id} → {self.dst_id or 'dataset ' + str(self.dst_asset_id)}"
