"""The rule templates (built-in, in Python) and custom Rego rules, by key."""

from __future__ import annotations

from .base import Facts, Finding, Param, Rule, Scope, Template
from .data import ClassificationTier, ConfidentialComputing, Consent, PurposeRule, Residency
from .operational import Budget, EvaluationGate, GpuQuota, TrustedImages
from .rego import RegoRule

TEMPLATES: dict[str, Template] = {t.key: t for t in (
    Residency(), PurposeRule(), Consent(), ClassificationTier(), ConfidentialComputing(), TrustedImages(), Budget(),
    GpuQuota(), EvaluationGate(), RegoRule(),
)}

__all__ = ["TEMPLATES", "Facts", "Finding", "Param", "Rule", "Scope", "Template"]
