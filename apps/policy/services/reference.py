"""Model evaluations, budgets, transfer rules and jurisdiction languages: audited writes that
invalidate the caches built on them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import AssetKind, Jurisdiction
from apps.core import services as core
from apps.core.sod import ensure_separate

from .. import cache
from ..models import Budget, EvaluationStatus, JurisdictionLanguage, ModelEvaluation, TransferRule


def _codes(field: str, codes: list[str]) -> list[str]:
    codes = sorted({c.strip().upper() for c in codes or [] if c.strip()})
    if not codes:
        raise ValidationError({field: "Name at least one jurisdiction."})
    unknown = sorted(set(codes) - set(Jurisdiction.objects.filter(code__in=codes).values_list("code", flat=True)))
    if unknown:
        raise ValidationError({field: f"Unknown jurisdiction(s): {', '.join(unknown)}."})
    return codes


def record_evaluation(evaluator: Any, fields: dict[str, Any]) -> ModelEvaluation:
    model = fields.get("model")
    if model is None or model.kind == AssetKind.DATASET:
        raise ValidationError({"model": "Evaluations are of models or fine-tunes."})
    data = {**fields, "jurisdictions": _codes("jurisdictions", fields.get("jurisdictions") or []),
            "language": str(fields.get("language", "")).strip().lower(), "evaluator": evaluator,
            "status": EvaluationStatus.PENDING}
    if not data["language"]:
        raise ValidationError({"language": "Name the language evaluated (e.g. de, ar)."})
    return core.create(ModelEvaluation, data)


def decide_evaluation(evaluation: ModelEvaluation, approver: Any, *, approve: bool, note: str = "") -> ModelEvaluation:
    ensure_separate(evaluation.evaluator, approver, f"evaluation #{evaluation.pk}")
    if evaluation.status != EvaluationStatus.PENDING:
        raise ValidationError({"status": f"Evaluation #{evaluation.pk} is already {evaluation.status}."})
    fields: dict[str, Any] = {"status": EvaluationStatus.APPROVED if approve else EvaluationStatus.REJECTED, "notes": note or evaluation.notes}
    if approve:
        fields.update(approved_by=approver, approved_at=timezone.now())
    with transaction.atomic():
        updated = core.update(evaluation, fields, action=f"policy.modelevaluation.{'approve' if approve else 'reject'}")
        cache.bump("serving")
    return updated


def set_budget(project: Any, amount: Any, currency: str = "EUR", *, if_match: str | None = None) -> Budget:
    existing = Budget.objects.filter(project=project).first()
    fields = {"amount": amount, "currency": currency.upper()}
    if existing is None:
        return core.create(Budget, {"project": project, **fields})
    return core.update(existing, fields, if_match=if_match)


def create_transfer_rule(fields: dict[str, Any]) -> TransferRule:
    with transaction.atomic():
        rule = core.create(TransferRule, fields)
        cache.bump("reference", "serving")
    return rule


def delete_transfer_rule(rule: TransferRule) -> None:
    with transaction.atomic():
        core.delete(rule)
        cache.bump("reference", "serving")


def set_languages(jurisdiction: Jurisdiction, languages: list[str]) -> JurisdictionLanguage:
    languages = [code.strip().lower() for code in languages if code.strip()]
    if not languages:
        raise ValidationError({"languages": "Name at least one language."})
    with transaction.atomic():
        existing = JurisdictionLanguage.objects.filter(jurisdiction=jurisdiction).first()
        row = (core.update(existing, {"languages": languages}) if existing
               else core.create(JurisdictionLanguage, {"jurisdiction": jurisdiction, "languages": languages}))
        cache.bump("reference", "serving")
    return row
