"""Dataset facets → the catalog (residency, classification, consent, description, owner, tags)
and govhub's dataset metadata (aliases, facets, columns, column lineage).

Rules: a person's declared residency is never overwritten; classification is only ever raised;
a consent is linked by its reference in the asset's project (created from ``govhub_consent`` only
for an account that may add consent records there). Every catalog change goes through
``catalog.update_asset``, so it is validated and audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connection

from apps.accounts.models import User, UserKind
from apps.catalog import services as catalog
from apps.catalog.models import Asset, Classification, ConsentRecord, Jurisdiction, ResidencySource

from . import columns
from .context import IngestContext
from .normalize import DatasetRef, Event, split_codes
from .store import jsonb

if TYPE_CHECKING:
    from .assets import AssetResolver

TRUE = {"true", "yes", "1", "y"}


def _facet(ref: DatasetRef, key: str) -> dict[str, Any]:
    value = ref.facets.get(key)
    return value if isinstance(value, dict) else {}


def _tags(ref: DatasetRef) -> dict[str, str]:
    """Dataset-level tags (not those naming a field), last value per lower-cased key."""
    out: dict[str, str] = {}
    for tag in _facet(ref, "tags").get("tags") or []:
        if isinstance(tag, dict) and not tag.get("field") and tag.get("key"):
            out[str(tag["key"]).strip().lower()] = str(tag.get("value", "")).strip()
    return out


def _residency(ref: DatasetRef) -> tuple[str, list[str]] | None:
    stated = _facet(ref, "govhub_residency")
    if stated.get("storageJurisdiction"):
        storage = stated["storageJurisdiction"]
        return storage, sorted(set(stated.get("processingJurisdictions") or [storage]))
    codes = split_codes(_tags(ref).get("jurisdiction", ""))
    return (codes[0], sorted(set(codes))) if codes else None


def _consent(ref: DatasetRef, asset: Asset, ctx: IngestContext, warnings: list[str]) -> ConsentRecord | None:
    stated = _facet(ref, "govhub_consent")
    reference = str(stated.get("reference") or _tags(ref).get("legal_basis", "")).strip()
    if not reference:
        return None
    project_id = asset.project_id or ctx.project_id
    consent = ConsentRecord.objects.filter(project_id=project_id, reference=reference).first()
    if consent is None and stated.get("legalBasis") and stated.get("purposes"):
        if ctx.may("catalog.add_consentrecord", project_id):
            from ..validation.formats import parse_datetime

            fields: dict[str, Any] = {"project_id": project_id, "reference": reference, "legal_basis": stated["legalBasis"],
                                      "purposes": stated["purposes"], "jurisdiction_scope": stated.get("jurisdictionScope") or [],
                                      "controller": str(stated.get("controller", "")),
                                      "notes": f"Stated by lineage producer for {ref.namespace}/{ref.name}."}
            if stated.get("validUntil"):
                fields["valid_until"] = parse_datetime(stated["validUntil"])
            consent = catalog.create_consent(fields)
        else:
            warnings.append(f"{ref.path}: consent {reference!r} is not recorded in the project and your role may not record it.")
    elif consent is None:
        warnings.append(f"{ref.path}: no consent record {reference!r} in the project; the asset's consent is unchanged.")
    return consent


def _owner(ref: DatasetRef, asset: Asset) -> User | None:
    for owner in _facet(ref, "ownership").get("owners") or []:
        name = str(owner.get("name", "")) if isinstance(owner, dict) else ""
        if name.startswith("user:"):
            user = User.objects.filter(username=name[5:], kind=UserKind.HUMAN, memberships__project_id=asset.project_id).first()
            if user is not None:
                return user
    return None


def catalog_changes(ref: DatasetRef, asset: Asset, ctx: IngestContext, warnings: list[str]) -> dict[str, Any]:
    """The catalog fields this dataset's facets change on ``asset`` (unsaved for a new one)."""
    changes: dict[str, Any] = {}
    residency = _residency(ref)
    if residency is not None:
        storage, processing = residency
        if asset.pk and asset.residency_source == ResidencySource.DECLARED:
            if (asset.storage_jurisdiction_id, sorted(asset.processing_jurisdictions)) != (storage, processing):
                warnings.append(f"{ref.path}: residency declared in the catalog kept; the event states {storage} {processing}.")
        elif (asset.storage_jurisdiction_id, sorted(asset.processing_jurisdictions or []), asset.residency_source) != (
                storage, processing, ResidencySource.LINEAGE):
            changes.update(storage_jurisdiction=Jurisdiction.objects.get(pk=storage), processing_jurisdictions=processing,
                           residency_source=ResidencySource.LINEAGE)
    tags = _tags(ref)
    wanted = tags.get("classification", "").lower()
    if wanted in Classification.values:
        if Classification.rank(wanted) > Classification.rank(asset.classification or Classification.INTERNAL) or not asset.pk:
            changes["classification"] = wanted
        elif wanted != asset.classification:
            warnings.append(f"{ref.path}: classification stays {asset.classification}; lineage may raise it, not lower it.")
    if tags.get("pii", "").lower() in TRUE and not asset.contains_pii:
        changes["contains_pii"] = True
    consent = _consent(ref, asset, ctx, warnings)
    if consent is not None and asset.consent_id != consent.pk:
        changes["consent"] = consent
    description = str(_facet(ref, "documentation").get("description", "")).strip()
    if description and not asset.description:
        changes["description"] = description
    if not asset.owner_id and (owner := _owner(ref, asset)) is not None:
        changes["owner"] = owner
    extra = {f"{k}:{v}"[:64] for k, v in tags.items() if k not in {"jurisdiction", "classification", "legal_basis", "pii"} and v}
    if extra - set(asset.tags or []):
        changes["tags"] = sorted(set(asset.tags or []) | extra)
    return changes


def apply_catalog_facets(ref: DatasetRef, asset: Asset, ctx: IngestContext, warnings: list[str]) -> None:
    changes = catalog_changes(ref, asset, ctx, warnings)
    if changes:
        catalog.update_asset(asset, changes)


def apply_lineage_facets(ref: DatasetRef, asset: Asset, resolver: AssetResolver, event: Event) -> str:
    """Aliases, columns, column lineage and the dataset metadata row; returns the new digest."""
    applied = ref.applied_facets
    digest = ref.applied_digest
    ctx = resolver.ctx
    # The names this asset goes by: the event's own (when it found the asset through a symlink) and
    # its symlinks; never the name of another catalog asset.
    names = [(ref.namespace, ref.name, "name in lineage"), *ref.symlinks]
    aliases = [(ns, nm, t) for ns, nm, t in names if (ns, nm) != (asset.namespace, asset.name)]
    with connection.cursor() as cur:
        if aliases:
            cur.execute(
                """INSERT INTO lineage_datasetalias (namespace, name, asset_id, alias_type)
                   SELECT ns, nm, %s, t FROM unnest(%s::text[], %s::text[], %s::text[]) AS x(ns, nm, t)
                   WHERE NOT EXISTS (SELECT 1 FROM catalog_asset a WHERE a.namespace = x.ns AND a.name = x.nm)
                   ON CONFLICT (namespace, name) DO NOTHING""",
                [asset.pk, [a[0] for a in aliases], [a[1] for a in aliases], [a[2][:64] for a in aliases]],
            )
        owners = [o for o in _facet(ref, "ownership").get("owners") or [] if isinstance(o, dict)]
        cur.execute(
            """INSERT INTO lineage_datasetmeta (asset_id, dataset_type, owners, documentation, facets, facets_digest, updated_at)
               VALUES (%s, %s, %s::jsonb, %s, %s::jsonb, %s, %s)
               ON CONFLICT (asset_id) DO UPDATE SET dataset_type = EXCLUDED.dataset_type, owners = EXCLUDED.owners,
                   documentation = EXCLUDED.documentation, facets = EXCLUDED.facets, facets_digest = EXCLUDED.facets_digest,
                   updated_at = EXCLUDED.updated_at""",
            [asset.pk, ref.dataset_type[:64], jsonb(owners), str(_facet(ref, "documentation").get("description", "")),
             jsonb(applied), digest, ctx.now],
        )
    if "schema" in applied or "tags" in applied:
        columns.apply_schema(ref, asset.pk, ctx)
    if "columnLineage" in applied:
        job_id = resolver.job_ids.get((event.job_namespace, event.job_name))
        columns.apply_column_lineage(ref, asset.pk, resolver, job_id, ctx)
    return digest
