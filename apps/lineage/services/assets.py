"""Datasets and models of an event → catalog assets: found by namespace and name, an alias, or a
symlink; created through the catalog services when new (in the writing project, residency from the
event's facets, else the namespace rules, else unknown); a training run's output registered as a
fine-tune."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.catalog import services as catalog
from apps.catalog.models import Asset, AssetKind

from ..models import DatasetMeta
from . import facets as apply
from . import store
from .context import IngestContext
from .jobs import register_dataset_namespaces
from .normalize import DatasetRef, Event

MODEL_KINDS = (AssetKind.MODEL, AssetKind.FINE_TUNE)


@dataclass
class AssetRow:
    id: int
    kind: str
    project_id: int
    meta_digest: str


def column_lineage_inputs(ref: DatasetRef) -> list[tuple[str, str]]:
    facet = ref.facets.get("columnLineage") if ref.role == "out" else None
    if not isinstance(facet, dict):
        return []
    found: list[tuple[str, str]] = []
    entries = [f for field in (facet.get("fields") or {}).values() if isinstance(field, dict) for f in field.get("inputFields") or []]
    entries += list(facet.get("dataset") or [])
    for entry in entries:
        if isinstance(entry, dict) and entry.get("namespace") and entry.get("name"):
            key = (str(entry["namespace"]), str(entry["name"]))
            if len(key[0]) <= 500 and len(key[1]) <= 500 and key not in found:
                found.append(key)
    return found


def asset_keys(events: list[Event]) -> set[tuple[str, str]]:
    """Every dataset name an event mentions: its datasets, their symlinks, column-lineage sources."""
    keys: set[tuple[str, str]] = set()
    for event in events:
        for ref in event.refs:
            keys.add(ref.key)
            keys.update((ns, nm) for ns, nm, _ in ref.symlinks)
            keys.update(column_lineage_inputs(ref))
    return keys


class AssetResolver:
    """Every dataset key of a batch, resolved by the lookup (and by aliases for the misses)."""

    def __init__(self, ctx: IngestContext, found: dict[tuple[str, str], tuple[int, str, int, str]], wanted: set[tuple[str, str]]):
        self.ctx = ctx
        self.rows: dict[tuple[str, str], AssetRow] = {key: AssetRow(*value) for key, value in found.items()}
        self.job_ids: dict[tuple[str, str], int] = {}
        missing = wanted - set(self.rows)
        if missing:
            self.rows.update({key: AssetRow(*value) for key, value in store.aliases(missing).items()})

    def lookup(self, ref: DatasetRef) -> AssetRow | None:
        row = self.rows.get(ref.key)
        if row is None:
            for ns, nm, _ in ref.symlinks:
                row = self.rows.get((ns, nm))
                if row is not None:
                    self.rows[ref.key] = row
                    break
        return row

    def get(self, key: tuple[str, str]) -> AssetRow:
        return self.rows[key]

    # --- which events need more than the bulk writes ------------------------------------------

    def _facets_pending(self, ref: DatasetRef, row: AssetRow) -> bool:
        if not ref.applied_digest or ref.applied_digest == row.meta_digest:
            return False
        return self.ctx.may("catalog.change_asset", row.project_id)

    def needs_work(self, event: Event) -> bool:
        """Does this event create assets or change facets (else the bulk writes are all it needs)?
        Facets of assets the account may not change are reported as warnings here, not applied."""
        work = False
        for ref in event.refs:
            row = self.lookup(ref)
            if row is None or self._facets_pending(ref, row) or any(key not in self.rows for key in column_lineage_inputs(ref)):
                work = True
            elif ref.applied_digest and ref.applied_digest != row.meta_digest:
                event.warnings.append(f"{ref.path}: facets not applied to {ref.namespace}/{ref.name}: your role may not change it.")
        return work or training_shape(event, self) is not None

    def pending_assets(self, events: list[Event]) -> list[int]:
        """Assets whose facets these events will apply."""
        return sorted({row.id for event in events for ref in event.refs
                       if (row := self.rows.get(ref.key)) is not None and self._facets_pending(ref, row)})

    # --- the rare path, in a savepoint per event ------------------------------------------------

    def prepare(self, event: Event) -> list[int]:
        """Create what is missing and apply changed facets; returns extra input asset ids (datasets
        named only by column lineage). Raises ValidationError / PermissionDenied for the event."""
        created_namespaces: set[str] = set()
        for ref in [*event.inputs, *event.outputs, *([event.dataset] if event.dataset else [])]:
            if self.lookup(ref) is None:
                self.rows[ref.key] = self._create(ref, event)
                created_namespaces.add(ref.namespace)
        extra: list[int] = []
        for ref in event.refs:
            for key in column_lineage_inputs(ref):
                if key not in self.rows:
                    stub = DatasetRef(namespace=key[0], name=key[1], path=f"{ref.path}.facets.columnLineage", role="in")
                    self.rows[key] = self._create(stub, event)
                    created_namespaces.add(key[0])
                if key not in {r.key for r in event.inputs}:
                    extra.append(self.rows[key].id)
        register_dataset_namespaces(created_namespaces, self.ctx)
        shape = training_shape(event, self)
        if shape is not None:
            self._register_fine_tunes(event, *shape)
        for ref in event.refs:
            row = self.rows[ref.key]
            if self._facets_pending(ref, row):
                asset = Asset.objects.select_related("consent").get(pk=row.id)
                apply.apply_catalog_facets(ref, asset, self.ctx, event.warnings)
                row.meta_digest = apply.apply_lineage_facets(ref, asset, self, event)
        return extra

    def _create(self, ref: DatasetRef, event: Event) -> AssetRow:
        self.ctx.require_add_asset(ref.path)
        kind = AssetKind.MODEL if ref.dataset_type == "MODEL" else AssetKind.DATASET
        stub = Asset(project=self.ctx.project, namespace=ref.namespace, name=ref.name, kind=kind)
        fields = {"project": self.ctx.project, "namespace": ref.namespace, "name": ref.name}
        fields.update(apply.catalog_changes(ref, stub, self.ctx, event.warnings))
        training = None
        if kind == AssetKind.MODEL and ref.role == "out":
            shape = training_inputs(event, self)
            if shape is not None:
                kind, training = AssetKind.FINE_TUNE, shape[1]
                fields["base_model"] = Asset.objects.get(pk=shape[0].id)
        try:
            with transaction.atomic():
                asset = catalog.create_asset(kind, fields, training_datasets=Asset.objects.filter(pk__in=[r.id for r in training])
                                             if training else None)
        except (IntegrityError, ValidationError):
            # A concurrent call registered the same dataset first: use it (else the error stands).
            existing = Asset.objects.filter(namespace=ref.namespace, name=ref.name).first()
            if existing is None:
                raise
            return self._found(ref, existing)
        row = AssetRow(asset.pk, asset.kind, asset.project_id, "")
        self.rows[ref.key] = row
        return row  # its lineage facets (schema, columns, aliases) are applied with the others in prepare()

    def _found(self, ref: DatasetRef, asset: Asset) -> AssetRow:
        meta = DatasetMeta.objects.filter(asset=asset).values_list("facets_digest", flat=True).first() or ""
        row = AssetRow(asset.pk, asset.kind, asset.project_id, meta)
        self.rows[ref.key] = row
        return row

    def _register_fine_tunes(self, event: Event, base: AssetRow, training: list[AssetRow], outputs: list[DatasetRef]) -> None:
        training_ids = {r.id for r in training}
        for ref in outputs:
            row = self.rows[ref.key]
            if row.id == base.id or not self.ctx.may("catalog.change_asset", row.project_id):
                continue
            asset = Asset.objects.get(pk=row.id)
            existing = set(asset.training_datasets.values_list("pk", flat=True))
            if asset.kind == AssetKind.FINE_TUNE and training_ids <= existing:
                if asset.base_model_id != base.id:
                    event.warnings.append(f"{ref.path}: the catalog names another base model for this fine-tune; kept.")
                continue
            fields = {}
            if asset.kind == AssetKind.MODEL:
                fields = {"kind": AssetKind.FINE_TUNE, "base_model": Asset.objects.get(pk=base.id)}
            catalog.update_asset(asset, fields, training_datasets=Asset.objects.filter(pk__in=existing | training_ids))
            row.kind = AssetKind.FINE_TUNE


def training_inputs(event: Event, resolver: AssetResolver) -> tuple[AssetRow, list[AssetRow]] | None:
    """(base model, training datasets) when a run reads a model and datasets."""
    if event.kind != "run":
        return None
    rows = [resolver.rows.get(ref.key) for ref in event.inputs]
    models = [r for r in rows if r is not None and r.kind in MODEL_KINDS]
    datasets = [r for r in rows if r is not None and r.kind == AssetKind.DATASET]
    if not models or not datasets:
        return None
    return models[0], datasets


def training_shape(event: Event, resolver: AssetResolver) -> tuple[AssetRow, list[AssetRow], list[DatasetRef]] | None:
    """A training run: inputs are datasets and a base model, an output is a model not yet
    registered as a fine-tune of it. None otherwise."""
    inputs = training_inputs(event, resolver)
    if inputs is None:
        return None
    outputs = [ref for ref in event.outputs if (row := resolver.rows.get(ref.key)) is not None and row.kind in MODEL_KINDS]
    if not outputs:
        return None
    return inputs[0], inputs[1], outputs
