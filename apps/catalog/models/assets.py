from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class AssetKind(models.TextChoices):
    DATASET = "dataset", "Dataset"
    MODEL = "model", "Model"
    FINE_TUNE = "fine_tune", "Fine-tune"


class Classification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"

    @classmethod
    def rank(cls, value: str) -> int:
        return [c.value for c in cls].index(value)


class ResidencySource(models.TextChoices):
    DECLARED = "declared", "Declared by a person"
    NAMESPACE_RULE = "namespace_rule", "Inferred from a namespace rule"
    LINEAGE = "lineage", "Stated by a lineage producer"
    UNKNOWN = "unknown", "Unknown"


class AssetQuerySet(RestrictedQuerySet):
    def datasets(self) -> "AssetQuerySet":
        return self.filter(kind=AssetKind.DATASET)

    def models(self) -> "AssetQuerySet":
        return self.filter(kind__in=[AssetKind.MODEL, AssetKind.FINE_TUNE])

    def unknown_residency(self) -> "AssetQuerySet":
        return self.filter(storage_jurisdiction__isnull=True)

    def search(self, text: str) -> "AssetQuerySet":
        text = (text or "").strip()
        if not text:
            return self
        return self.filter(
            models.Q(name__icontains=text) | models.Q(namespace__icontains=text)
            | models.Q(description__icontains=text) | models.Q(tags__contains=[text])
        )

    def with_related(self) -> "AssetQuerySet":
        return self.select_related("project", "owner", "storage_jurisdiction", "consent", "base_model")


class Asset(models.Model):
    """A dataset, a model or a fine-tune: one table, because lineage, inherited constraints and
    policy treat them alike (see docs/adr/0002-one-asset-table.md). ``Dataset``, ``Model`` and
    ``FineTune`` are proxies that fix ``kind``."""

    kind = models.CharField(max_length=16, choices=AssetKind.choices, db_index=True)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="assets")
    namespace = models.CharField(max_length=500, help_text="Storage location, e.g. s3://acme-eu-health")
    name = models.CharField(max_length=500)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="owned_assets")
    description = models.TextField(blank=True)
    tags = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    classification = models.CharField(max_length=16, choices=Classification.choices, default=Classification.INTERNAL)
    contains_pii = models.BooleanField(default=False)
    storage_jurisdiction = models.ForeignKey(
        "catalog.Jurisdiction", null=True, blank=True, on_delete=models.PROTECT, related_name="stored_assets",
        help_text="Empty means unknown, which no policy treats as allowed.",
    )
    processing_jurisdictions = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    residency_source = models.CharField(max_length=16, choices=ResidencySource.choices, default=ResidencySource.UNKNOWN)
    consent = models.ForeignKey(
        "catalog.ConsentRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="assets",
        help_text="The consent or legal basis the data was collected under; empty means unknown.",
    )
    base_model = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="fine_tunes",
        limit_choices_to={"kind__in": [AssetKind.MODEL, AssetKind.FINE_TUNE]},
    )
    training_datasets = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="trained_models",
        limit_choices_to={"kind": AssetKind.DATASET},
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, help_text="Bumped on every change; the API's ETag.")

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "name"], name="asset_unique_location"),
            models.CheckConstraint(
                name="fine_tune_has_base_model",
                condition=~models.Q(kind="fine_tune") | models.Q(base_model__isnull=False),
            ),
            models.CheckConstraint(
                name="only_fine_tunes_have_base_model",
                condition=models.Q(kind="fine_tune") | models.Q(base_model__isnull=True),
            ),
        ]
        indexes = [
            GinIndex(fields=["tags"], name="asset_tags_gin"),
            GinIndex(fields=["processing_jurisdictions"], name="asset_proc_jur_gin"),
            models.Index(fields=["project", "kind"], name="asset_project_kind"),
            models.Index(fields=["kind", "storage_jurisdiction"], name="asset_kind_storage"),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def residency_known(self) -> bool:
        return self.storage_jurisdiction_id is not None and bool(self.processing_jurisdictions)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == AssetKind.FINE_TUNE and not self.base_model_id:
            errors["base_model"] = "A fine-tune needs the base model it was trained from."
        if self.kind != AssetKind.FINE_TUNE and self.base_model_id:
            errors["base_model"] = "Only a fine-tune has a base model."
        if self.base_model_id and self.base_model and self.base_model.kind == AssetKind.DATASET:
            errors["base_model"] = "The base model must be a model, not a dataset."
        if self.base_model_id and self.pk and self.base_model_id == self.pk:
            errors["base_model"] = "A model cannot be its own base model."
        if self.consent_id and self.project_id and self.consent and self.consent.project_id != self.project_id:
            errors["consent"] = "The consent record belongs to another project."
        if self.storage_jurisdiction_id is None and self.processing_jurisdictions:
            errors["storage_jurisdiction"] = "Say where the data is stored before where it may be processed."
        if errors:
            raise ValidationError(errors)


class _KindManager(models.Manager.from_queryset(AssetQuerySet)):  # type: ignore[misc]
    def __init__(self, kinds: list[str]):
        super().__init__()
        self.kinds = kinds

    def get_queryset(self) -> AssetQuerySet:
        return super().get_queryset().filter(kind__in=self.kinds)


class Dataset(Asset):
    objects = _KindManager([AssetKind.DATASET])

    class Meta:
        proxy = True

    def save(self, *args, **kwargs):
        self.kind = AssetKind.DATASET
        super().save(*args, **kwargs)


class Model(Asset):
    """Base models and fine-tunes (a fine-tune is a model)."""

    objects = _KindManager([AssetKind.MODEL, AssetKind.FINE_TUNE])

    class Meta:
        proxy = True


class FineTune(Asset):
    objects = _KindManager([AssetKind.FINE_TUNE])

    class Meta:
        proxy = True
        verbose_name = "fine-tune"

    def save(self, *args, **kwargs):
        self.kind = AssetKind.FINE_TUNE
        super().save(*args, **kwargs)


class DatasetVersion(models.Model):
    """An immutable version of a dataset (a snapshot, a partition, a dbt run's output). A version
    may carry its own consent record when it was collected under a different one."""

    dataset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="versions", limit_choices_to={"kind": AssetKind.DATASET})
    version = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=500, blank=True)
    row_count = models.BigIntegerField(null=True, blank=True)
    consent = models.ForeignKey("catalog.ConsentRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="dataset_versions")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = "dataset__project"

    class Meta:
        ordering = ["dataset_id", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="dataset_version_unique")]

    def __str__(self) -> str:
        return f"{self.dataset.name}@{self.version}"

    def clean(self) -> None:
        if self.dataset_id and self.dataset.kind != AssetKind.DATASET:
            raise ValidationError({"dataset": "Only datasets have versions."})
