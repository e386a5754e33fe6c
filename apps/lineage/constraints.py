"""Constraints that flow down the lineage graph, materialized per asset with their explanation.

An asset's *own* constraints come from the catalog: where it may be processed (its processing
jurisdictions, narrowed by its consent's jurisdiction scope; unknown when its residency is), what it
may be used for (its consent's purposes while the consent is active; nothing when the consent is
withdrawn, expired or not yet valid, or when personal data has no legal basis recorded; otherwise
unrestricted) and its classification. Its *effective* constraints fold its own with those of every
asset upstream of it: jurisdictions and purposes intersect (blocs expanded, the purpose hierarchy
respected: research ∩ research.medical = research.medical), classification takes the highest, and
flags (withdrawn or expired consent, unknown residency, personal data without a legal basis) carry
down. Unknown is never allowed: one upstream asset of unknown residency empties the effective
jurisdictions. Each result names the upstream assets that impose it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.catalog.models import Asset, Classification, ConsentStatus, Jurisdiction
from apps.catalog.models.jurisdictions import _bloc_members, expand_codes
from apps.catalog.models.purposes import purpose_covers

from . import graph
from .models import EffectiveConstraint

BATCH = 500


@dataclass
class Own:
    asset: Asset
    depth: int
    jurisdictions: set[str] | None  # None: unknown residency
    purposes: set[str] | None  # None: unrestricted
    purpose_reason: str
    flags: list[dict[str, str]] = field(default_factory=list)


def ref(asset: Asset, depth: int) -> dict[str, Any]:
    return {"asset_id": asset.pk, "name": asset.name, "namespace": asset.namespace, "kind": asset.kind,
            "project_id": asset.project_id, "depth": depth}


def own_constraints(asset: Asset, depth: int, now: dt.datetime) -> Own:
    flags: list[dict[str, str]] = []
    consent = asset.consent
    if asset.storage_jurisdiction_id is None:
        jurisdictions = None
        flags.append({"code": "unknown_residency", "detail": "Residency unknown: nobody has said where it is stored."})
    else:
        jurisdictions = expand_codes(asset.processing_jurisdictions or [asset.storage_jurisdiction_id])
        if consent is not None and consent.jurisdiction_scope:
            jurisdictions &= expand_codes(consent.jurisdiction_scope)
    if consent is not None:
        status = consent.effective_status(now)
        if status == ConsentStatus.ACTIVE:
            purposes, reason = set(consent.purposes), f"consent {consent.reference}"
        else:
            purposes, reason = set(), f"consent {consent.reference} is {status}"
            flags.append({"code": f"consent_{status}", "detail": f"Consent {consent.reference} is {status}."})
    elif asset.contains_pii:
        purposes, reason = set(), "personal data without a recorded legal basis"
        flags.append({"code": "no_legal_basis", "detail": "Contains personal data but no consent or legal basis is recorded."})
    else:
        purposes, reason = None, ""
    return Own(asset, depth, jurisdictions, purposes, reason, flags)


def _minimal(codes: set[str]) -> set[str]:
    """Drop codes covered by another code of the set (research covers research.medical)."""
    return {c for c in codes if not any(o != c and purpose_covers(o, c) for o in codes)}


def intersect_purposes(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    """Hierarchy-aware intersection; None stands for unrestricted."""
    if a is None:
        return None if b is None else set(b)
    if b is None:
        return set(a)
    out = {y for x in a for y in b if purpose_covers(x, y)} | {x for x in a for y in b if purpose_covers(y, x)}
    return _minimal(out)


def _fold(values: list[Any], meet: Any) -> tuple[Any, list[bool]]:
    """The meet of all values (None is the top: no restriction) and, per value, whether it binds:
    leaving it out would widen the result."""
    n = len(values)
    prefix: list[Any] = [None] * (n + 1)
    suffix: list[Any] = [None] * (n + 1)
    for i, value in enumerate(values):
        prefix[i + 1] = meet(prefix[i], value)
    for i in range(n - 1, -1, -1):
        suffix[i] = meet(values[i], suffix[i + 1])
    total = prefix[n]
    return total, [meet(prefix[i], suffix[i + 1]) != total for i in range(n)]


def _jur_meet(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    if a is None:
        return None if b is None else set(b)
    return set(a) if b is None else a & b


def display_codes(codes: set[str]) -> list[str]:
    """Country codes with whole blocs shown as the bloc (EU instead of its 27 members)."""
    remaining, shown = set(codes), []
    for bloc, members in sorted(_bloc_members().items(), key=lambda kv: -len(kv[1])):
        if members and set(members) <= remaining:
            shown.append(bloc)
            remaining -= set(members)
    return sorted(shown) + sorted(remaining)


def explain(asset: Asset, upstream: list[Own], now: dt.datetime) -> dict[str, Any]:
    chain = upstream
    unknown = [o for o in chain if o.jurisdictions is None]
    known = [o for o in chain if o.jurisdictions is not None]
    jur_total, jur_binding = _fold([o.jurisdictions for o in known], _jur_meet)
    if unknown or jur_total is None:
        effective_jur: set[str] = set()
    else:
        effective_jur = jur_total
    restricting = [o for o in chain if o.purposes is not None]
    pur_total, pur_binding = _fold([o.purposes for o in restricting], intersect_purposes)
    top = max(chain, key=lambda o: (Classification.rank(o.asset.classification), -o.depth))
    flags = [{**f, **ref(o.asset, o.depth)} for o in chain for f in o.flags]
    return {
        "jurisdictions": {
            "effective": sorted(effective_jur), "display": display_codes(effective_jur),
            "unknown": [ref(o.asset, o.depth) for o in unknown],
            "sources": sorted(({**ref(o.asset, o.depth), "allowed": display_codes(o.jurisdictions or set()), "binding": b}
                               for o, b in zip(known, jur_binding, strict=True)), key=lambda s: (not s["binding"], s["depth"], s["name"])),
        },
        "purposes": {
            "effective": sorted(pur_total) if pur_total is not None else [], "unrestricted": pur_total is None,
            "sources": sorted(({**ref(o.asset, o.depth), "allowed": sorted(o.purposes or []), "reason": o.purpose_reason, "binding": b}
                               for o, b in zip(restricting, pur_binding, strict=True)), key=lambda s: (not s["binding"], s["depth"], s["name"])),
        },
        "classification": {"effective": top.asset.classification, "source": ref(top.asset, top.depth)},
        "flags": sorted(flags, key=lambda f: (f["depth"], f["code"], f["name"])),
        "upstream_count": len(chain) - 1,
        "computed_at": now.isoformat(),
    }


def _assets(ids: set[int]) -> dict[int, Asset]:
    return {a.pk: a for a in Asset.objects.filter(pk__in=ids).select_related("consent")}


def compute(asset_ids: list[int], now: dt.datetime | None = None) -> int:
    """Recompute and store the effective constraints of these assets. Returns how many were stored."""
    stored = 0
    for start in range(0, len(asset_ids), BATCH):
        chunk = asset_ids[start:start + BATCH]
        stamp = now or timezone.now()  # the rows below reflect the graph as of this moment
        closures = {pk: graph.upstream_assets(pk) for pk in chunk}
        assets = _assets(set(chunk) | {a for c in closures.values() for a in c})
        rows = []
        for pk in chunk:
            if pk not in assets:
                continue
            chain = [own_constraints(assets[pk], 0, stamp)]
            chain += [own_constraints(assets[a], d, stamp) for a, d in sorted(closures[pk].items(), key=lambda x: (x[1], x[0])) if a in assets]
            explanation = explain(assets[pk], chain, stamp)
            rows.append((pk, explanation))
        stored += _save(rows, stamp)
    return stored


def _save(rows: list[tuple[int, dict[str, Any]]], stamp: dt.datetime) -> int:
    """Upsert, newest computation wins (a slower, older recomputation never overwrites a newer one)."""
    if not rows:
        return 0
    from .services.store import jsonb

    rows.sort(key=lambda r: r[0])
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """INSERT INTO lineage_effectiveconstraint (asset_id, jurisdictions, purposes, purposes_unrestricted, classification,
                                                        flags, explanation, upstream_count, computed_at)
               SELECT a, string_to_array(j, ',')::varchar[], string_to_array(p, ',')::varchar[], u, c,
                      string_to_array(f, ',')::varchar[], e::json, n, %s
               FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bool[], %s::text[], %s::text[], %s::text[], %s::int[])
                    AS x(a, j, p, u, c, f, e, n)
               WHERE EXISTS (SELECT 1 FROM catalog_asset WHERE id = x.a)
               ON CONFLICT (asset_id) DO UPDATE SET jurisdictions = EXCLUDED.jurisdictions, purposes = EXCLUDED.purposes,
                   purposes_unrestricted = EXCLUDED.purposes_unrestricted, classification = EXCLUDED.classification,
                   flags = EXCLUDED.flags, explanation = EXCLUDED.explanation, upstream_count = EXCLUDED.upstream_count,
                   computed_at = EXCLUDED.computed_at
               WHERE lineage_effectiveconstraint.computed_at <= EXCLUDED.computed_at""",
            [stamp, [r[0] for r in rows], [",".join(r[1]["jurisdictions"]["effective"]) for r in rows],
             [",".join(r[1]["purposes"]["effective"]) for r in rows], [r[1]["purposes"]["unrestricted"] for r in rows],
             [r[1]["classification"]["effective"] for r in rows],
             [",".join(sorted({f["code"] for f in r[1]["flags"]})) for r in rows], [jsonb(r[1]) for r in rows],
             [r[1]["upstream_count"] for r in rows]],
        )
        return cur.rowcount


def recompute_downstream(node_ids: list[int]) -> int:
    """The nodes given, and everything downstream of them: recompute each asset among them."""
    seeds = sorted(set(node_ids))
    reached = graph.downstream_nodes(seeds)
    assets = sorted({n for n in [*seeds, *reached] if n > 0})
    return compute(assets)


def recompute_all() -> int:
    ids = list(Asset.objects.order_by("pk").values_list("pk", flat=True))
    return compute(ids)


def get_or_compute(asset: Asset) -> EffectiveConstraint:
    row = EffectiveConstraint.objects.filter(asset=asset).first()
    if row is None:
        compute([asset.pk])
        row = EffectiveConstraint.objects.get(asset=asset)
    return row


__all__ = ["Jurisdiction", "compute", "display_codes", "explain", "get_or_compute", "intersect_purposes", "own_constraints",
           "recompute_all", "recompute_downstream"]
