"""The rules in force: active versions (and review versions in dry-run), compiled once per process
and cached until a version or a waiver changes (``cache.bump("rules")``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .. import cache
from ..engine import rego
from ..models import PolicyVersion, VersionState, Waiver, WaiverState
from ..rules import TEMPLATES, Rule, Scope

log = logging.getLogger(__name__)


@dataclass
class RuleSet:
    rules: list[Rule]  # live (enforced) and shadow (dry-run) rules
    waivers: list[dict[str, Any]]
    policy_set: list[dict[str, Any]]

    @property
    def live(self) -> list[Rule]:
        return [r for r in self.rules if not r.shadow]

    @property
    def shadow(self) -> list[Rule]:
        return [r for r in self.rules if r.shadow]


def compile_version(version: PolicyVersion, *, shadow: bool = False) -> Rule:
    """A version ready to evaluate. A Rego module that no longer compiles yields a rule whose every
    evaluation is an engine error (fail closed), never a silently skipped rule."""
    template = TEMPLATES[version.policy.template]
    compiled = None
    if template.key == "rego":
        try:
            compiled = rego.engine().compile(version.rego_source)
        except Exception as exc:
            log.error("policy %s v%s: Rego module does not compile: %s", version.policy.slug, version.number, exc)
    try:
        params = template.clean_params(version.params)
    except Exception:
        params = {p.name: p.default for p in template.params}
    return Rule(policy=version.policy.slug, policy_id=version.policy_id, version=version.number, version_id=version.pk,
                template=template, action=version.action, params=params, scope=Scope.from_json(version.scope),
                shadow=shadow, compiled=compiled)


def waiver_spec(w: Waiver) -> dict[str, Any]:
    scope = w.scope or {}
    return {"id": w.pk, "policy": w.policy.slug, "project": w.project.slug if w.project_id else None,
            "assets": [int(a) for a in scope.get("assets") or []], "clusters": list(scope.get("clusters") or []),
            "job_kinds": list(scope.get("job_kinds") or []), "expires_at": w.expires_at}


def _load() -> RuleSet:
    versions = (PolicyVersion.objects.select_related("policy")
                .filter(state__in=[VersionState.ACTIVE, VersionState.REVIEW]).order_by("policy__slug", "number"))
    rules = []
    for v in versions:
        if v.state == VersionState.ACTIVE:
            rules.append(compile_version(v))
        elif v.shadow:
            rules.append(compile_version(v, shadow=True))
    # Approved, unrevoked waivers; whether each has expired is decided inside the decision
    # (engine.evaluator.waiver_covers), the one place expiry is checked.
    waivers = [waiver_spec(w) for w in Waiver.objects.select_related("policy", "project").filter(state=WaiverState.APPROVED)]
    policy_set = [{"policy": r.policy, "version": r.version, "version_id": r.version_id} for r in rules if not r.shadow]
    return RuleSet(rules=rules, waivers=waivers, policy_set=policy_set)


def current(generation: Any = ...) -> RuleSet:
    return cache.local("rules", _load, generation)


def changed() -> None:
    """A version or a waiver changed: every process reloads its rules (after commit)."""
    cache.bump("rules", "serving")


def now() -> Any:
    return timezone.now()
