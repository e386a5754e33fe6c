from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.fields import VerbatimJSONField
from apps.core.permissions import RestrictedQuerySet


class EffectiveConstraint(models.Model):
    """An asset's constraints after everything upstream of it is taken into account, with the
    explanation of which upstream asset imposes each. Kept current by ``lineage.recompute_constraints``
    (see apps/lineage/constraints.py)."""

    asset = models.OneToOneField("catalog.Asset", primary_key=True, on_delete=models.CASCADE, related_name="effective_constraint")
    jurisdictions = ArrayField(models.CharField(max_length=8), default=list, blank=True,
                               help_text="Country codes where processing is allowed (blocs expanded); empty when any upstream residency is unknown.")
    purposes = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    purposes_unrestricted = models.BooleanField(default=False, help_text="No upstream asset restricts purposes.")
    classification = models.CharField(max_length=16)
    flags = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Written whole and read whole (admission reads 50 at a time as text): json, not jsonb (VerbatimJSONField).
    explanation = VerbatimJSONField(default=dict)
    upstream_count = models.IntegerField(default=0)
    computed_at = models.DateTimeField()

    objects = RestrictedQuerySet.as_manager()
    project_field = "asset__project"

    def __str__(self) -> str:
        return f"constraints of asset {self.asset_id}"
