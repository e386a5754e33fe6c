"""Catalog writes. The API, the UI, the admin, demo loading and tasks all call these."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.core import services as core

from .models import (
    Asset,
    AssetKind,
    ConsentRecord,
    ConsentStatus,
    DatasetVersion,
    Jurisdiction,
    NamespaceRule,
    Purpose,
    ResidencySource,
)
from .models.jurisdictions import invalidate_jurisdiction_cache, resolve_namespace


def _check_codes(field: str, codes: Iterable[str], model: type, label: str) -> None:
    codes = list(codes or [])
    if not codes:
        return
    known = set(model.objects.filter(pk__in=codes).values_list("pk", flat=True))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ValidationError({field: f"Unknown {label}: {', '.join(sorted(set(unknown)))}."})


def _normalise_asset_fields(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    if "processing_jurisdictions" in fields:
        fields["processing_jurisdictions"] = sorted({c.strip().upper() for c in fields["processing_jurisdictions"] or [] if c.strip()})
        _check_codes("processing_jurisdictions", fields["processing_jurisdictions"], Jurisdiction, "jurisdiction")
    if "tags" in fields:
        fields["tags"] = sorted({t.strip() for t in fields["tags"] or [] if t.strip()})
    return fields


def infer_residency(fields: dict[str, Any]) -> dict[str, Any]:
    """Fill residency from the namespace rules when the caller did not declare it. No rule
    matching means residency stays unknown — never a default jurisdiction."""
    if fields.get("storage_jurisdiction") or fields.get("storage_jurisdiction_id"):
        fields.setdefault("residency_source", ResidencySource.DECLARED)
        if not fields.get("processing_jurisdictions"):
            jur = fields.get("storage_jurisdiction") or fields.get("storage_jurisdiction_id")
            fields["processing_jurisdictions"] = [getattr(jur, "pk", jur)]
        return fields
    rule = resolve_namespace(fields.get("namespace", ""), fields.get("name", ""))
    if rule is None:
        # No default jurisdiction: unknown stays unknown. Processing jurisdictions given without
        # a storage jurisdiction are kept so that validation rejects them with a message.
        fields["storage_jurisdiction"] = None
        fields.setdefault("processing_jurisdictions", [])
        fields["residency_source"] = ResidencySource.UNKNOWN
    else:
        fields["storage_jurisdiction"] = rule.jurisdiction
        if not fields.get("processing_jurisdictions"):
            fields["processing_jurisdictions"] = list(rule.processing_jurisdictions) or [rule.jurisdiction_id]
        fields["residency_source"] = ResidencySource.NAMESPACE_RULE
    return fields


def create_asset(kind: str, fields: dict[str, Any], *, training_datasets: Iterable[Asset] | None = None) -> Asset:
    fields = infer_residency(_normalise_asset_fields({**fields, "kind": kind}))
    m2m = {"training_datasets": list(training_datasets or [])} if kind != AssetKind.DATASET else None
    _check_training_datasets(training_datasets)
    return core.create(Asset, fields, m2m=m2m, action=f"catalog.{kind}.create")


def update_asset(asset: Asset, fields: dict[str, Any], *, training_datasets: Iterable[Asset] | None = None,
                 if_match: str | None = None) -> Asset:
    fields = _normalise_asset_fields(fields)
    if "storage_jurisdiction" in fields and fields["storage_jurisdiction"] is not None:
        fields.setdefault("residency_source", ResidencySource.DECLARED)
    if fields.get("storage_jurisdiction", "missing") is None:
        fields.setdefault("processing_jurisdictions", [])
        fields["residency_source"] = ResidencySource.UNKNOWN
    m2m = None
    if training_datasets is not None:
        _check_training_datasets(training_datasets)
        m2m = {"training_datasets": list(training_datasets)}
    return core.update(asset, fields, m2m=m2m, if_match=if_match, action=f"catalog.{asset.kind}.update")


def delete_asset(asset: Asset, *, if_match: str | None = None) -> None:
    if asset.fine_tunes.exists():
        raise ValidationError({"base_model": "Fine-tunes are derived from this model; delete them first."})
    if asset.kind == AssetKind.DATASET and asset.trained_models.exists():
        raise ValidationError({"training_datasets": "Models were trained on this dataset; it must stay for their provenance."})
    core.delete(asset, if_match=if_match, action=f"catalog.{asset.kind}.delete", m2m=["training_datasets"])


def _check_training_datasets(datasets: Iterable[Asset] | None) -> None:
    bad = [str(d) for d in datasets or [] if d.kind != AssetKind.DATASET]
    if bad:
        raise ValidationError({"training_datasets": f"Not datasets: {', '.join(bad)}."})


def create_dataset_version(dataset: Asset, fields: dict[str, Any]) -> DatasetVersion:
    return core.create(DatasetVersion, {**fields, "dataset": dataset})


def _consent_fields(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    if "purposes" in fields:
        fields["purposes"] = sorted({p.strip() for p in fields["purposes"] or [] if p.strip()})
        _check_codes("purposes", fields["purposes"], Purpose, "purpose")
    if "jurisdiction_scope" in fields:
        fields["jurisdiction_scope"] = sorted({c.strip().upper() for c in fields["jurisdiction_scope"] or [] if c.strip()})
        _check_codes("jurisdiction_scope", fields["jurisdiction_scope"], Jurisdiction, "jurisdiction")
    if fields.get("status") == ConsentStatus.WITHDRAWN:
        raise ValidationError({"status": "Withdraw a consent with the withdraw action, which records why and when."})
    return fields


def create_consent(fields: dict[str, Any]) -> ConsentRecord:
    return core.create(ConsentRecord, _consent_fields(fields))


def update_consent(consent: ConsentRecord, fields: dict[str, Any], *, if_match: str | None = None) -> ConsentRecord:
    if consent.status == ConsentStatus.WITHDRAWN:
        raise ValidationError({"status": "A withdrawn consent cannot be edited; record a new one."})
    return core.update(consent, _consent_fields(fields), if_match=if_match)


def withdraw_consent(consent: ConsentRecord, *, reason: str, at=None, if_match: str | None = None) -> ConsentRecord:
    """GDPR Art. 7(3): record the withdrawal. Later capabilities react to the audit event and
    the status (re-evaluating jobs, stopping running ones)."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why the consent is withdrawn (e.g. the data subject's request)."})
    if consent.status == ConsentStatus.WITHDRAWN:
        return consent
    with transaction.atomic():
        updated = core.update(
            consent,
            {"status": ConsentStatus.WITHDRAWN, "withdrawn_at": at or timezone.now(), "withdrawal_reason": reason.strip()},
            if_match=if_match, action="catalog.consentrecord.withdraw",
        )
        transaction.on_commit(lambda: _announce_consent_change(updated.pk))
        return updated


# Other capabilities (lineage, policy, dispatch) register callbacks here instead of being imported.
CONSENT_CHANGE_HOOKS: list = []


def _announce_consent_change(consent_id: int) -> None:
    for hook in CONSENT_CHANGE_HOOKS:
        hook(consent_id)


def create_jurisdiction(fields: dict[str, Any], members: Iterable[str] = ()) -> Jurisdiction:
    fields = {**fields, "code": str(fields.get("code", "")).upper()}
    members = [m.upper() for m in members]
    _check_codes("members", members, Jurisdiction, "jurisdiction")
    obj = core.create(Jurisdiction, fields, m2m={"members": members} if members else None)
    invalidate_jurisdiction_cache()
    return obj


def update_jurisdiction(jur: Jurisdiction, fields: dict[str, Any], members: Iterable[str] | None = None,
                        if_match: str | None = None) -> Jurisdiction:
    m2m = None
    if members is not None:
        members = [m.upper() for m in members]
        _check_codes("members", members, Jurisdiction, "jurisdiction")
        m2m = {"members": members}
    obj = core.update(jur, fields, m2m=m2m, if_match=if_match)
    invalidate_jurisdiction_cache()
    return obj


def _rule_fields(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    if "processing_jurisdictions" in fields:
        fields["processing_jurisdictions"] = sorted({c.strip().upper() for c in fields["processing_jurisdictions"] or []})
        _check_codes("processing_jurisdictions", fields["processing_jurisdictions"], Jurisdiction, "jurisdiction")
    return fields


def _reinfer_after_commit(rule: NamespaceRule) -> None:
    from workers.catalog_tasks import reinfer_residency

    transaction.on_commit(lambda: reinfer_residency.delay(rule.pk))


def create_namespace_rule(fields: dict[str, Any]) -> NamespaceRule:
    with transaction.atomic():
        rule = core.create(NamespaceRule, _rule_fields(fields))
        _reinfer_after_commit(rule)
        return rule


def update_namespace_rule(rule: NamespaceRule, fields: dict[str, Any], if_match: str | None = None) -> NamespaceRule:
    with transaction.atomic():
        rule = core.update(rule, _rule_fields(fields), if_match=if_match)
        _reinfer_after_commit(rule)
        return rule


def create_purpose(fields: dict[str, Any]) -> Purpose:
    code = str(fields.get("code", ""))
    if "." in code and not Purpose.objects.filter(code=code.rsplit(".", 1)[0]).exists():
        raise ValidationError({"code": f"Create the parent purpose {code.rsplit('.', 1)[0]!r} first."})
    return core.create(Purpose, fields)


def apply_residency_rules(assets: Iterable[Asset]) -> int:
    """Re-infer residency for assets whose residency is unknown or came from a rule (after the
    rules change). Declared residency is never overwritten."""
    changed = 0
    for asset in assets:
        if asset.residency_source not in (ResidencySource.UNKNOWN, ResidencySource.NAMESPACE_RULE):
            continue
        inferred = infer_residency({"namespace": asset.namespace, "name": asset.name})
        new_jur = inferred["storage_jurisdiction"]
        if (getattr(new_jur, "pk", None), inferred["processing_jurisdictions"]) != (
            asset.storage_jurisdiction_id, asset.processing_jurisdictions
        ):
            update_asset(asset, {"storage_jurisdiction": new_jur, "processing_jurisdictions": inferred["processing_jurisdictions"],
                                 "residency_source": inferred["residency_source"]})
            changed += 1
    return changed


__all__ = [
    "apply_residency_rules", "create_asset", "create_consent", "create_dataset_version", "create_jurisdiction",
    "create_namespace_rule", "create_purpose", "delete_asset", "infer_residency", "update_asset", "update_consent",
    "update_jurisdiction", "update_namespace_rule", "withdraw_consent",
]
