"""EU AI Act Annex IV 2(d) / Art. 10(2) data provenance for each model or fine-tune in scope:
the base-model chain (Annex IV 2(a)), every training dataset with its versions, origin,
collection purpose, legal basis, jurisdictions and preparation steps, the compute used (2(c)),
and the gaps — facts the catalog does not hold — listed explicitly (Art. 10(2)(h))."""

from __future__ import annotations

from typing import Any

from apps.catalog.models import Asset, AssetKind, DatasetVersion

COMPUTE_UNKNOWN = "not recorded in the catalog (training jobs are recorded once the dispatch capability is in place)"


def _consent(consent) -> dict[str, Any] | None:
    if consent is None:
        return None
    return {"reference": consent.reference, "legal_basis": consent.get_legal_basis_display(), "purposes": list(consent.purposes),
            "jurisdiction_scope": list(consent.jurisdiction_scope), "status": consent.effective_status(),
            "valid_from": consent.valid_from.isoformat() if consent.valid_from else None,
            "valid_until": consent.valid_until.isoformat() if consent.valid_until else None}


def _dataset(ds: Asset, gaps: list[str]) -> dict[str, Any]:
    versions = list(DatasetVersion.objects.filter(dataset=ds).select_related("consent").order_by("created_at"))
    if ds.consent_id is None and not any(v.consent_id for v in versions):
        gaps.append(f"dataset {ds} (#{ds.pk}): no consent or legal basis recorded")
    if not versions:
        gaps.append(f"dataset {ds} (#{ds.pk}): no versions recorded (which snapshot was used is unknown)")
    if ds.storage_jurisdiction_id is None:
        gaps.append(f"dataset {ds} (#{ds.pk}): residency unknown")
    return {
        "id": ds.pk, "namespace": ds.namespace, "name": ds.name, "description": ds.description, "tags": list(ds.tags),
        "classification": ds.classification, "contains_personal_data": ds.contains_pii,
        "origin": {"location": ds.namespace, "residency_source": ds.get_residency_source_display(),
                   "storage_jurisdiction": ds.storage_jurisdiction_id, "processing_jurisdictions": list(ds.processing_jurisdictions)},
        "collection": _consent(ds.consent),
        "versions": [{"version": v.version, "created_at": v.created_at.isoformat(), "location": v.location,
                      "row_count": v.row_count, "preparation": v.description, "collection": _consent(v.consent)} for v in versions],
        "preparation_steps": [f"{v.version}: {v.description}" for v in versions if v.description],
    }


def _chain(model: Asset) -> list[Asset]:
    chain, seen = [], set()
    current = model
    while current is not None and current.pk not in seen:
        seen.add(current.pk)
        chain.append(current)
        current = current.base_model
    return chain


def section(model: Asset) -> dict[str, Any]:
    gaps: list[str] = []
    chain = _chain(model)
    datasets: dict[int, Asset] = {}
    for m in chain:
        for ds in m.training_datasets.select_related("consent", "storage_jurisdiction").all():
            datasets.setdefault(ds.pk, ds)
    if not datasets:
        gaps.append(f"model {model} (#{model.pk}): no training datasets recorded")
    return {
        "model": {"id": model.pk, "kind": model.kind, "namespace": model.namespace, "name": model.name,
                  "description": model.description, "project": model.project.slug, "catalog_version": model.version,
                  "created_at": model.created_at.isoformat(), "updated_at": model.updated_at.isoformat()},
        "annex_iv_2a_development": {
            "base_model_chain": [{"id": m.pk, "name": str(m), "kind": m.kind} for m in chain[1:]],
            "note": "a fine-tune's pre-trained component is its base model; each step down the chain is listed",
        },
        "annex_iv_2d_article_10_2_training_data": [_dataset(ds, gaps) for ds in datasets.values()],
        "annex_iv_2c_compute": COMPUTE_UNKNOWN,
        "gaps": gaps,
    }


def build(assets: list[Asset]) -> list[dict[str, Any]]:
    models = [a for a in assets if a.kind in (AssetKind.MODEL, AssetKind.FINE_TUNE)]
    return [section(m) for m in sorted(models, key=lambda a: a.pk)]
