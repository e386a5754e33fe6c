from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class SchedulerKind(models.TextChoices):
    LOCAL = "local", "Local runner"
    SLURM = "slurm", "Slurm"
    KUBERNETES = "kubernetes", "Kubernetes"


class SecurityTier(models.IntegerChoices):
    """The highest data classification a cluster is accredited for."""

    PUBLIC = 1, "Tier 1 — public data"
    INTERNAL = 2, "Tier 2 — internal data"
    CONFIDENTIAL = 3, "Tier 3 — confidential data"
    RESTRICTED = 4, "Tier 4 — restricted data"


class ComputeCluster(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    scheduler = models.CharField(max_length=16, choices=SchedulerKind.choices, default=SchedulerKind.LOCAL)
    jurisdiction = models.ForeignKey("catalog.Jurisdiction", on_delete=models.PROTECT, related_name="clusters")
    region = models.CharField(max_length=100, blank=True, help_text="Site or region, e.g. eu-central-fra")
    security_tier = models.PositiveSmallIntegerField(choices=SecurityTier.choices, default=SecurityTier.INTERNAL)
    confidential_computing = models.BooleanField(
        default=False, help_text="Attested confidential computing (e.g. H100 CC mode with remote attestation)."
    )
    gpu_model = models.CharField(max_length=100, blank=True)
    gpu_count = models.PositiveIntegerField(default=0)
    price_per_gpu_hour = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"), validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="EUR")
    power_per_gpu_watts = models.PositiveIntegerField(default=700)
    carbon_intensity_g_per_kwh = models.PositiveIntegerField(default=300, help_text="Grid carbon intensity, gCO₂e/kWh.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name or self.name
