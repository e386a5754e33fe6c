"""JSON for constraints and columns, shared by the API and the UI. Upstream assets in projects the
user may not see are named only as such."""

from __future__ import annotations

import copy
from typing import Any

from django.urls import reverse

from apps.catalog.models import Asset
from apps.core.permissions import ALL, projects_with_perm

from .models import ColumnEdge, DatasetField, EffectiveConstraint

HIDDEN = "an asset in a project you may not see"


def _visible_projects(user: Any) -> Any:
    return projects_with_perm(user, "catalog.view_asset")


def _mask(ref: dict[str, Any], visible: Any) -> dict[str, Any]:
    if visible == ALL or ref.get("project_id") in visible:
        return {**ref, "url": reverse("asset-detail", args=[ref["asset_id"]])}
    return {"asset_id": None, "name": HIDDEN, "namespace": "", "kind": ref.get("kind", ""), "depth": ref.get("depth"),
            "hidden": True, **{k: v for k, v in ref.items() if k in ("allowed", "binding", "reason", "code", "detail")}}


def constraints_payload(user: Any, asset: Asset, row: EffectiveConstraint) -> dict[str, Any]:
    visible = _visible_projects(user)
    exp = copy.deepcopy(row.explanation)
    jur, pur = exp.get("jurisdictions", {}), exp.get("purposes", {})
    jur["sources"] = [_mask(s, visible) for s in jur.get("sources", [])]
    jur["unknown"] = [_mask(s, visible) for s in jur.get("unknown", [])]
    pur["sources"] = [_mask(s, visible) for s in pur.get("sources", [])]
    if "classification" in exp:
        exp["classification"]["source"] = _mask(exp["classification"]["source"], visible)
    exp["flags"] = [_mask(f, visible) for f in exp.get("flags", [])]
    return {
        "asset": {"id": asset.pk, "name": asset.name, "namespace": asset.namespace, "kind": asset.kind},
        "jurisdictions": row.jurisdictions, "jurisdictions_display": jur.get("display", []),
        "purposes": row.purposes, "purposes_unrestricted": row.purposes_unrestricted,
        "classification": row.classification, "flags": row.flags, "upstream_count": row.upstream_count,
        "computed_at": row.computed_at, "explanation": exp,
    }


def column_lineage(user: Any, asset: Asset) -> dict[str, Any]:
    fields = list(DatasetField.objects.filter(asset=asset).order_by("ordinal", "name"))
    ids = [f.pk for f in fields]
    edges = (ColumnEdge.objects.filter(dst_asset=asset) | ColumnEdge.objects.filter(src_id__in=ids)).select_related(
        "src", "src__asset", "dst", "dst_asset", "job").distinct()
    visible = _visible_projects(user)

    def column(field: DatasetField | None, owner: Asset) -> dict[str, Any]:
        shown = visible == ALL or owner.project_id in visible
        return {"id": field.pk if field and shown else None, "name": field.name if field and shown else None,
                "asset": {"id": owner.pk, "name": owner.name, "namespace": owner.namespace,
                          "url": reverse("lineage-columns", args=[owner.pk])} if shown else {"id": None, "name": HIDDEN}}

    upstream, downstream = [], []
    for edge in edges:
        item = {"source": column(edge.src, edge.src.asset), "target": column(edge.dst, edge.dst_asset),
                "transformation_type": edge.transformation_type, "subtype": edge.subtype, "description": edge.description,
                "masking": edge.masking, "whole_dataset": edge.dst_id is None,
                "job": {"id": edge.job_id, "name": edge.job.name} if edge.job_id and (visible == ALL or edge.job.project_id in visible) else None}
        (upstream if edge.dst_asset_id == asset.pk else downstream).append(item)
    key = lambda e: (e["target"]["name"] or "", e["source"]["name"] or "")  # noqa: E731
    return {
        "asset": {"id": asset.pk, "name": asset.name, "namespace": asset.namespace, "kind": asset.kind},
        "fields": [{"id": f.pk, "name": f.name, "data_type": f.data_type, "description": f.description, "ordinal": f.ordinal,
                    "tags": f.tags, "in_schema": f.in_schema} for f in fields],
        "upstream": sorted(upstream, key=key), "downstream": sorted(downstream, key=key),
    }
