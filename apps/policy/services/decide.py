"""The gateway check: "may model M serve purpose P in jurisdiction J?", answered per request from
cached facts. The serving-relevant rules in force (residency, purpose, consent, evaluation gate,
and Rego rules scoped to inference jobs) judge the model's effective constraints.

Caches: the model's facts per (model, jurisdiction) in-process, then in Redis, then PostgreSQL;
all keyed by the ``serving`` generation, which changes when constraints, evaluations, rules or
waivers change. An entry also lapses when the model's own consent runs out, and after
``MAX_AGE`` seconds regardless. Anything missing denies."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any

from django.core.cache import cache as shared
from django.utils import timezone

from .. import cache
from .. import facts as facts_mod
from ..engine import evaluator
from . import ruleset

log = logging.getLogger(__name__)
MAX_AGE = 300.0
LOCAL_MAX = 10_000

_local: dict[tuple[int, str], tuple[Any, float, dict]] = {}


def _base_doc(model_id: int, jurisdiction: str) -> tuple[dict, float]:
    """The facts document for serving ``model_id`` in ``jurisdiction`` (purpose filled per call)."""
    gathered = facts_mod.serving_facts(model_id)
    inputs = gathered["inputs"]
    if not inputs:
        return {"missing": [{"fact": "model", "asset_id": model_id, "message": f"Model {model_id} does not exist."}]}, MAX_AGE
    model = inputs[0]
    cluster = {"id": None, "name": f"serving:{jurisdiction}", "jurisdiction": jurisdiction, "security_tier": 4,
               "confidential_computing": True, "price_per_gpu_hour": "0", "currency": "EUR", "gpu_count": 0, "enabled": True}
    relevant = facts_mod._relevant_reference(inputs, [cluster], jurisdiction, gathered["reference"])
    doc = {"schema": facts_mod.SCHEMA,
           "job": {"id": None, "kind": "inference", "purpose": "", "project": None, "project_id": model["project_id"],
                   "image": "", "gpus": 0, "estimated_hours": 0.0, "serving_jurisdiction": jurisdiction,
                   "target_cluster": cluster["name"], "requested_by": None},
           "inputs": [{**model, "role": "model"}], "clusters": [cluster], "project": {"budget": None, "active_gpus": 0},
           "evaluations": gathered["evaluations"], **relevant, "missing": gathered["missing"]}
    ttl = MAX_AGE
    until = (model.get("consent") or {}).get("valid_until")
    if until:
        ttl = max(0.0, min(ttl, (dt.datetime.fromisoformat(until) - timezone.now()).total_seconds()))
    return doc, ttl


def _project_slug(project_id: int | None) -> str | None:
    from apps.accounts.models import Project

    return Project.objects.filter(pk=project_id).values_list("slug", flat=True).first() if project_id else None


def cached_doc(model_id: int, jurisdiction: str, generation: Any) -> tuple[dict, str]:
    key = (model_id, jurisdiction)
    now = time.monotonic()
    hit = _local.get(key)
    if hit is not None and hit[0] == generation and generation is not None and now < hit[1]:
        return hit[2], "memory"
    redis_key = f"policy:serving:{generation}:{model_id}:{jurisdiction}"
    source = "redis"
    raw = None
    if generation is not None:
        try:
            raw = shared.get(redis_key)
        except Exception:
            raw = None
    if raw is not None:
        doc, ttl = json.loads(raw)
    else:
        source = "database"
        doc, ttl = _base_doc(model_id, jurisdiction)
        if doc.get("job"):
            doc["job"]["project"] = _project_slug(doc["job"]["project_id"])
        if generation is not None and ttl > 1:
            try:
                shared.set(redis_key, json.dumps([doc, ttl]), int(ttl))
            except Exception as exc:  # the in-process copy still serves; PostgreSQL stays the truth
                log.warning("could not cache serving facts in Redis: %s", exc)
    if len(_local) >= LOCAL_MAX:
        _local.clear()
    _local[key] = (generation, now + ttl, doc)
    return doc, source


def serving_rules(rules: ruleset.RuleSet) -> list:
    return [r for r in rules.live
            if r.template.serving or (r.template.key == "rego" and "inference" in r.scope.job_kinds)]


def decide(model_id: int, purpose: str, jurisdiction: str) -> dict[str, Any]:
    jurisdiction = jurisdiction.upper()
    gens = cache.generations(("rules", "serving"))
    rules = ruleset.current(gens["rules"])
    base, source = cached_doc(model_id, jurisdiction, gens["serving"])
    if not base.get("job"):
        return {"allowed": False, "outcome": "deny", "reasons": [m["message"] for m in base["missing"]], "violations": [],
                "warnings": [], "policy_set": rules.policy_set, "source": source}
    doc = {**base, "job": {**base["job"], "purpose": purpose}}
    results = evaluator.evaluate(doc, serving_rules(rules), rules.waivers, timezone.now())
    violations = evaluator.effective_violations(results)
    enforced = [v for v in violations if evaluator.blocking(v)]
    outcome = "deny" if results["outcome"] == "require_approval" else results["outcome"]  # no human in the loop per request
    return {"allowed": outcome == "allow", "outcome": outcome, "reasons": [f"{v['policy']}: {v['message']}" for v in enforced],
            "violations": violations,
            "warnings": [f"{v['policy']}: {v['message']}" for v in violations if v["action"] == "warn" and not v.get("waived")],
            "policy_set": rules.policy_set, "source": source}


def clear_local() -> None:
    _local.clear()
