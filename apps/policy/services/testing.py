"""Policy version tests: an input document and the violations the version must produce on it.

A test is ``{"name": str, "input": {...facts document...}, "expect": [{"asset"?, "contains"?, "kind"?}]}``.
The input may be partial: missing parts take defaults (a training job, no inputs, one EU cluster).
``expect`` must match the version's violations one to one (an empty list: no violation)."""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from apps import audit
from apps.core import context

from ..models import PolicyTestRun, PolicyVersion
from ..rules import Facts, Rule
from .content import content_digest
from .ruleset import compile_version

DEFAULT_DOC: dict[str, Any] = {
    "schema": 1,
    "job": {"id": 0, "kind": "training", "purpose": "research", "project": "test", "project_id": 0,
            "image": "registry.govhub.local/train@sha256:" + "0" * 64, "gpus": 1, "estimated_hours": 1.0,
            "serving_jurisdiction": "", "output_name": "", "output_namespace": "", "target_cluster": None,
            "requested_by": {"id": 0, "kind": "service", "owner_id": None}},
    "inputs": [],
    "clusters": [{"id": 0, "name": "test-cluster", "jurisdiction": "DE", "security_tier": 4, "confidential_computing": True,
                  "price_per_gpu_hour": "1.00", "currency": "EUR", "gpu_count": 8, "enabled": True}],
    "project": {"slug": "test", "budget": {"remaining": "1000000", "currency": "EUR"}, "active_gpus": 0},
    "evaluations": {}, "blocs": {}, "origin_blocs": {}, "transfers": [], "languages": {}, "missing": [],
}
INPUT_DEFAULTS: dict[str, Any] = {
    "asset_id": None, "name": "input", "namespace": "test://", "kind": "dataset", "role": "data", "project_id": 0, "tags": [],
    "contains_pii": False, "storage_jurisdiction": "DE", "dataset_version": None, "consent": None, "consent_source": None,
    "effective": {"jurisdictions": ["DE"], "purposes": [], "purposes_unrestricted": True, "classification": "internal",
                  "flags": [], "computed_at": None},
    "upstream": {"jurisdictions": [], "unknown_residency": [], "purposes": [], "classification": {}, "flags": []},
}


def build_doc(partial: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(DEFAULT_DOC)
    for key, value in (partial or {}).items():
        if key == "job" and isinstance(value, dict):
            doc["job"].update(value)
        elif key == "project" and isinstance(value, dict):
            doc["project"].update(value)
        elif key == "inputs" and isinstance(value, list):
            doc["inputs"] = []
            for i, item in enumerate(value):
                merged = copy.deepcopy(INPUT_DEFAULTS)
                merged["asset_id"] = i + 1
                for k, v in (item or {}).items():
                    merged[k] = {**merged[k], **v} if isinstance(merged.get(k), dict) and isinstance(v, dict) else v
                doc["inputs"].append(merged)
        else:
            doc[key] = value
    return doc


def validate_tests(tests: Any) -> list[dict[str, Any]]:
    if tests in (None, ""):
        return []
    if not isinstance(tests, list):
        raise ValidationError({"tests": "Tests are a JSON list of {name, input, expect}."})
    errors: dict[str, str] = {}
    for i, test in enumerate(tests):
        if not isinstance(test, dict) or not str(test.get("name", "")).strip():
            errors[f"tests[{i}].name"] = "Each test needs a name."
            continue
        if not isinstance(test.get("input", {}), dict):
            errors[f"tests[{i}].input"] = "The input is a JSON object (a facts document, partial is fine)."
        expect = test.get("expect", [])
        if not isinstance(expect, list) or not all(isinstance(e, dict) for e in expect):
            errors[f"tests[{i}].expect"] = "expect is a list of {asset?, contains?, kind?} objects ([] for no violation)."
    if errors:
        raise ValidationError(errors)
    return tests


def _matches(expected: dict, v: dict) -> bool:
    if expected.get("asset") is not None and expected["asset"] != v.get("asset"):
        return False
    if expected.get("kind") is not None and expected["kind"] != v.get("kind"):
        return False
    return not expected.get("contains") or str(expected["contains"]).lower() in v["message"].lower()


def run_one(rule: Rule, test: dict[str, Any]) -> dict[str, Any]:
    doc = build_doc(test.get("input") or {})
    facts = Facts(doc)
    try:
        if rule.cluster_dependent:
            found = [v for c in facts.clusters for v in rule.evaluate(facts, c)]
        else:
            found = rule.evaluate(facts, None)
    except Exception as exc:
        return {"name": test.get("name"), "passed": False, "error": f"{type(exc).__name__}: {exc}", "violations": [], "unmatched": []}
    remaining = list(found)
    unmatched = []
    for expected in test.get("expect") or []:
        hit = next((v for v in remaining if _matches(expected, v)), None)
        if hit is None:
            unmatched.append(expected)
        else:
            remaining.remove(hit)
    passed = not unmatched and not remaining
    return {"name": test.get("name"), "passed": passed, "violations": [{k: v[k] for k in ("asset", "message", "kind", "cluster")} for v in found],
            "unmatched": unmatched, "unexpected": [v["message"] for v in remaining]}


def run_tests(version: PolicyVersion) -> PolicyTestRun:
    """Run a version's tests and record the run (audited)."""
    rule = compile_version(version)
    tests = version.tests or []
    results = [run_one(rule, t) for t in tests]
    if rule.template.key == "rego" and rule.compiled is None:
        results.insert(0, {"name": "compile", "passed": False, "error": "The Rego module does not compile.",
                           "violations": [], "unmatched": []})
    if not tests:
        results.append({"name": "(no tests)", "passed": False, "error": "A version needs at least one test before activation.",
                        "violations": [], "unmatched": []})
    passed = all(r["passed"] for r in results)
    from django.db import transaction

    with transaction.atomic():
        run = PolicyTestRun.objects.create(policy_version=version, content_digest=version.content_digest or content_digest(version),
                                           passed=passed, results=results, ran_by=context.current_actor().label,
                                           ran_at=timezone.now())
        audit.record("policy.policyversion.test", version, object_repr=str(version),
                     after={"passed": passed, "tests": len(tests), "failed": [r["name"] for r in results if not r["passed"]]})
    return run
