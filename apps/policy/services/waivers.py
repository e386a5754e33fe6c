"""Waivers: requested with a justification, a ticket and an expiry; approved by someone else;
revocable. Whether a waiver still holds is decided inside each decision (engine.evaluator)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import Asset
from apps.compute.models import ComputeCluster
from apps.core import services as core
from apps.core.sod import ensure_separate
from apps.jobs.models import JobKind

from ..models import Waiver, WaiverState
from . import ruleset

MAX_DAYS = 366


def _clean_scope(scope: Any) -> dict[str, list]:
    scope = scope or {}
    if not isinstance(scope, dict) or set(scope) - {"assets", "clusters", "job_kinds"}:
        raise ValidationError({"scope": "The scope has assets (ids), clusters (names) and job_kinds."})
    try:
        assets = sorted({int(a) for a in scope.get("assets") or []})
    except (TypeError, ValueError):
        raise ValidationError({"scope.assets": "Asset ids are numbers."}) from None
    clusters = sorted({str(c) for c in scope.get("clusters") or []})
    kinds = sorted({str(k) for k in scope.get("job_kinds") or []})
    errors = {}
    if len(assets) != Asset.objects.filter(pk__in=assets).count():
        errors["scope.assets"] = "Unknown asset id(s)."
    if len(clusters) != ComputeCluster.objects.filter(name__in=clusters).count():
        errors["scope.clusters"] = "Unknown cluster name(s)."
    if set(kinds) - set(JobKind.values):
        errors["scope.job_kinds"] = f"Choose from {', '.join(JobKind.values)}."
    if errors:
        raise ValidationError(errors)
    return {"assets": assets, "clusters": clusters, "job_kinds": kinds}


def request_waiver(requester: Any, fields: dict[str, Any]) -> Waiver:
    expires = fields.get("expires_at")
    now = timezone.now()
    errors = {}
    if not isinstance(expires, dt.datetime):
        errors["expires_at"] = "A waiver needs an expiry date."
    elif expires <= now:
        errors["expires_at"] = "The expiry must be in the future."
    elif expires > now + dt.timedelta(days=MAX_DAYS):
        errors["expires_at"] = f"A waiver lasts at most {MAX_DAYS} days."
    for name in ("justification", "ticket"):
        if not str(fields.get(name) or "").strip():
            errors[name] = "Required: say why, and where it was agreed."
    if errors:
        raise ValidationError(errors)
    data = {**fields, "scope": _clean_scope(fields.get("scope")), "requested_by": requester, "state": WaiverState.REQUESTED}
    return core.create(Waiver, data)


def approve_waiver(waiver: Waiver, approver: Any, *, note: str = "") -> Waiver:
    ensure_separate(waiver.requested_by, approver, f"waiver #{waiver.pk}")
    if waiver.state != WaiverState.REQUESTED:
        raise ValidationError({"state": f"Waiver #{waiver.pk} is {waiver.state}; only a request can be approved."})
    if waiver.expires_at <= timezone.now():
        raise ValidationError({"expires_at": "This request has already expired; ask again with a new expiry."})
    with transaction.atomic():
        updated = core.update(waiver, {"state": WaiverState.APPROVED, "approved_by": approver, "approved_at": timezone.now(),
                                       "decision_note": note}, action="policy.waiver.approve")
        ruleset.changed()
        transaction.on_commit(lambda: _reevaluate(waiver.pk))
    return updated


def reject_waiver(waiver: Waiver, approver: Any, *, note: str) -> Waiver:
    ensure_separate(waiver.requested_by, approver, f"waiver #{waiver.pk}")
    if waiver.state != WaiverState.REQUESTED:
        raise ValidationError({"state": f"Waiver #{waiver.pk} is {waiver.state}; only a request can be rejected."})
    if not note.strip():
        raise ValidationError({"note": "Say why the waiver is rejected."})
    return core.update(waiver, {"state": WaiverState.REJECTED, "decision_note": note}, action="policy.waiver.reject")


def revoke_waiver(waiver: Waiver, *, note: str = "") -> Waiver:
    if waiver.state != WaiverState.APPROVED:
        raise ValidationError({"state": "Only an approved waiver can be revoked."})
    with transaction.atomic():
        updated = core.update(waiver, {"state": WaiverState.REVOKED, "revoked_at": timezone.now(), "decision_note": note},
                              action="policy.waiver.revoke")
        ruleset.changed()
        transaction.on_commit(lambda: _reevaluate(waiver.pk))
    return updated


def _reevaluate(waiver_id: int) -> None:
    from workers.policy_tasks import reevaluate_live_jobs

    reevaluate_live_jobs.delay(f"waiver #{waiver_id} changed")
