"""GDPR Art. 30(1) record of processing activities, from what the catalog knows.

One activity per consent record / legal basis in scope (the purposes it covers, its data
subjects and data categories, the assets processed under it), plus one "legal basis unknown"
activity per project for personal-data assets with no consent record — a gap the controller
must close, listed rather than hidden. Fields govhub cannot know (DPO, representative) say so.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.conf import settings

from apps.catalog.models import Asset, ConsentRecord, Jurisdiction
from apps.catalog.models.jurisdictions import expand_codes
from apps.compute.models import ComputeCluster

NOT_RECORDED = "not recorded in govhub"
SECURITY_MEASURES = [
    "role-based access per project (apps/core/roles.py), objects outside a user's projects are not disclosed",
    "every change recorded in an append-only audit ledger, tamper-evident by an RFC 6962 Merkle tree with Ed25519-signed checkpoints",
    "API tokens stored only as SHA-256 digests, scoped, expiring and revocable",
    "personal data in the audit ledger pseudonymised with per-person keys that erasure destroys",
]


def _eea() -> set[str]:
    codes = set(Jurisdiction.objects.filter(code="EEA").values_list("members__code", flat=True)) - {None}
    return codes or expand_codes({"EU"}) | {"IS", "LI", "NO"}


def _asset_json(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.pk, "kind": asset.kind, "namespace": asset.namespace, "name": asset.name,
        "classification": asset.classification, "contains_personal_data": asset.contains_pii,
        "storage_jurisdiction": asset.storage_jurisdiction_id, "processing_jurisdictions": list(asset.processing_jurisdictions),
        "residency_source": asset.residency_source,
    }


def _transfers(assets: list[Asset], eea: set[str], consent: ConsentRecord | None) -> list[dict[str, Any]]:
    out = []
    for asset in assets:
        places = {asset.storage_jurisdiction_id, *asset.processing_jurisdictions} - {None}
        for code in sorted(places):
            countries = expand_codes({code})
            outside = sorted(countries - eea)
            if outside:
                out.append({
                    "asset": asset.pk, "jurisdiction": code, "third_countries": outside,
                    "safeguard": NOT_RECORDED + " (GDPR Art. 44-49: adequacy decision, SCCs with a transfer impact assessment, BCRs)",
                    "consent_jurisdiction_scope": list(consent.jurisdiction_scope) if consent else [],
                })
    return out


def _recipients(assets: list[Asset]) -> list[str]:
    places: set[str] = set()
    for asset in assets:
        places |= expand_codes({asset.storage_jurisdiction_id, *asset.processing_jurisdictions} - {None})
    clusters = ComputeCluster.objects.filter(enabled=True).select_related("jurisdiction")
    names = [f"compute cluster {c.name} ({c.jurisdiction_id}, {c.get_scheduler_display()})" for c in clusters
             if expand_codes({c.jurisdiction_id}) & places]
    projects = sorted({a.project.slug for a in assets})
    return [f"internal: project team of {p}" for p in projects] + names


def build(assets: list[Asset]) -> dict[str, Any]:
    eea = _eea()
    by_consent: dict[int | None, list[Asset]] = {}
    for asset in assets:
        if asset.consent_id or asset.contains_pii:
            by_consent.setdefault(asset.consent_id, []).append(asset)
    consents = {c.pk: c for c in ConsentRecord.objects.filter(pk__in=[k for k in by_consent if k]).select_related("project")}
    activities = []
    for consent_id, members in sorted(by_consent.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        consent = consents.get(consent_id) if consent_id else None
        activities.append({
            "activity": (f"{consent.project.name}: {', '.join(consent.purposes)}" if consent
                         else "personal data with no recorded legal basis"),
            "controller": (consent.controller if consent and consent.controller else NOT_RECORDED),
            "representative_and_dpo": NOT_RECORDED,
            "purposes": list(consent.purposes) if consent else [],
            "legal_basis": consent.get_legal_basis_display() if consent else "UNKNOWN — a gap to close",
            "consent_reference": consent.reference if consent else None,
            "consent_status": consent.effective_status() if consent else None,
            "data_subject_categories": list(consent.data_subject_categories) if consent else [],
            "personal_data_categories": list(consent.personal_data_categories) if consent else [],
            "recipients": _recipients(members),
            "third_country_transfers": _transfers(members, eea, consent),
            "retention": (f"until {consent.valid_until:%Y-%m-%d}" if consent and consent.valid_until
                          else "no end date recorded"),
            "erasure_time_limit": (f"{consent.valid_until:%Y-%m-%d}" if consent and consent.valid_until else NOT_RECORDED),
            "security_measures": SECURITY_MEASURES,
            "assets": [_asset_json(a) for a in members],
        })
    return {"regulation": "GDPR Art. 30(1)", "controller_of_record": getattr(settings, "GOVHUB_CONTROLLER", NOT_RECORDED),
            "activities": activities}


CSV_COLUMNS = ["activity", "controller", "purposes", "legal_basis", "consent_reference", "consent_status",
               "data_subject_categories", "personal_data_categories", "recipients", "third_country_transfers",
               "retention", "asset_id", "asset", "classification", "storage_jurisdiction", "processing_jurisdictions"]


def to_csv(ropa: dict[str, Any]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for act in ropa["activities"]:
        transfers = "; ".join(f"{t['jurisdiction']}→{','.join(t['third_countries'])}" for t in act["third_country_transfers"])
        for asset in act["assets"] or [{}]:
            writer.writerow([
                act["activity"], act["controller"], "; ".join(act["purposes"]), act["legal_basis"], act["consent_reference"] or "",
                act["consent_status"] or "", "; ".join(act["data_subject_categories"]), "; ".join(act["personal_data_categories"]),
                "; ".join(act["recipients"]), transfers, act["retention"], asset.get("id", ""),
                f"{asset.get('namespace', '')}/{asset.get('name', '')}", asset.get("classification", ""),
                asset.get("storage_jurisdiction") or "", "; ".join(asset.get("processing_jurisdictions", [])),
            ])
    return buf.getvalue().encode("utf-8")
