"""Dashboard figures, computed with aggregate queries over what the user may see.

Kept out of the view so the numbers can be tested exactly, without rendering HTML. Every
queryset starts from ``restrict(user)``: the dashboard never counts what the lists would hide.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from apps.catalog.models import Asset, AssetKind, Classification, ConsentRecord, ConsentStatus

EXPIRY_WINDOW_DAYS = 30
LIST_LIMIT = 10

_IS_DATASET = Q(kind=AssetKind.DATASET)
_IS_MODEL = Q(kind__in=[AssetKind.MODEL, AssetKind.FINE_TUNE])
# The same definition as AssetFilterSet's ``residency=unknown``, so a figure and the list it
# links to always agree.
UNKNOWN_RESIDENCY = Q(storage_jurisdiction__isnull=True) | Q(processing_jurisdictions=[])


def _split_counts() -> dict[str, Count]:
    return {
        "datasets": Count("id", filter=_IS_DATASET),
        "models": Count("id", filter=_IS_MODEL),
        "total": Count("id"),
    }


def _with_pct(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bar widths relative to the largest row (an empty chart stays empty, not divided by 0)."""
    top = max((r["total"] for r in rows), default=0)
    for r in rows:
        r["pct"] = round(100 * r["total"] / top) if top else 0
    return rows


def dashboard_figures(user: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    assets = Asset.objects.restrict(user)
    consents = ConsentRecord.objects.restrict(user)

    counts = assets.aggregate(
        datasets=Count("id", filter=_IS_DATASET),
        models=Count("id", filter=Q(kind=AssetKind.MODEL)),
        fine_tunes=Count("id", filter=Q(kind=AssetKind.FINE_TUNE)),
        total=Count("id"),
        unknown_residency=Count("id", filter=UNKNOWN_RESIDENCY),
        unknown_datasets=Count("id", filter=UNKNOWN_RESIDENCY & _IS_DATASET),
        unknown_models=Count("id", filter=UNKNOWN_RESIDENCY & _IS_MODEL),
        withdrawn_datasets=Count("id", filter=Q(consent__status=ConsentStatus.WITHDRAWN) & _IS_DATASET),
        withdrawn_models=Count("id", filter=Q(consent__status=ConsentStatus.WITHDRAWN) & _IS_MODEL),
    )

    by_jurisdiction = sorted(
        (
            {"code": r["storage_jurisdiction_id"], "name": r["storage_jurisdiction__name"] or "Unknown",
             "datasets": r["datasets"], "models": r["models"], "total": r["total"]}
            for r in assets.values("storage_jurisdiction_id", "storage_jurisdiction__name")
            .annotate(**_split_counts()).order_by()
        ),
        # Unknown last whatever its size: it is a warning, not a place.
        key=lambda r: (r["code"] is None, -r["total"], r["code"] or ""),
    )

    per_class = {r["classification"]: r for r in assets.values("classification").annotate(**_split_counts()).order_by()}
    by_classification = [
        {"value": c.value, "label": c.label,
         **{k: per_class.get(c.value, {}).get(k, 0) for k in ("datasets", "models", "total")}}
        for c in Classification
    ]

    unknown_items = list(assets.filter(UNKNOWN_RESIDENCY).with_related().order_by("-updated_at", "-id")[:LIST_LIMIT])

    expiring = consents.expiring_within(EXPIRY_WINDOW_DAYS, now=now)
    expiring_items = list(expiring.select_related("project").annotate(asset_count=Count("assets")).order_by("valid_until")[:LIST_LIMIT])

    withdrawn = consents.filter(status=ConsentStatus.WITHDRAWN, assets__isnull=False).distinct()
    withdrawn_items = list(
        consents.filter(status=ConsentStatus.WITHDRAWN).annotate(asset_count=Count("assets"))
        .filter(asset_count__gt=0).select_related("project").order_by("-withdrawn_at")[:LIST_LIMIT]
    )

    return {
        "counts": {k: counts[k] for k in ("datasets", "models", "fine_tunes", "total")},
        "by_jurisdiction": _with_pct(by_jurisdiction),
        "by_classification": _with_pct(by_classification),
        "unknown_residency": {
            "count": counts["unknown_residency"], "datasets": counts["unknown_datasets"],
            "models": counts["unknown_models"], "items": unknown_items,
        },
        "expiring_consents": {"days": EXPIRY_WINDOW_DAYS, "count": expiring.count(), "items": expiring_items},
        "withdrawn_attached": {
            "consents": withdrawn.count(),
            "datasets": counts["withdrawn_datasets"], "models": counts["withdrawn_models"],
            "assets": counts["withdrawn_datasets"] + counts["withdrawn_models"],
            "items": withdrawn_items,
        },
    }
