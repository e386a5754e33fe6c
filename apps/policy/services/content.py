"""A version's content (action, parameters, scope, Rego module, tests): validation, digest, diff."""

from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any

from django.core.exceptions import ValidationError

from apps.accounts.models import Project
from apps.compute.models import ComputeCluster
from apps.jobs.models import JobKind

from ..engine import rego
from ..models import Action, PolicyVersion
from ..rules import TEMPLATES
from ..rules.base import SCOPE_KEYS


def clean_scope(scope: Any) -> dict[str, list[str]]:
    if scope in (None, ""):
        return {k: [] for k in SCOPE_KEYS}
    if not isinstance(scope, dict):
        raise ValidationError({"scope": "The scope is an object with projects, clusters, asset_tags and job_kinds."})
    unknown = sorted(set(scope) - set(SCOPE_KEYS))
    if unknown:
        raise ValidationError({"scope": f"Unknown scope key(s): {', '.join(unknown)}."})
    out = {}
    for key in SCOPE_KEYS:
        value = scope.get(key) or []
        if isinstance(value, str):
            value = value.replace("\n", ",").split(",")
        out[key] = sorted({str(v).strip() for v in value if str(v).strip()})
    errors = {}
    missing = sorted(set(out["projects"]) - set(Project.objects.filter(slug__in=out["projects"]).values_list("slug", flat=True)))
    if missing:
        errors["scope.projects"] = f"Unknown project(s): {', '.join(missing)}."
    missing = sorted(set(out["clusters"]) - set(ComputeCluster.objects.filter(name__in=out["clusters"]).values_list("name", flat=True)))
    if missing:
        errors["scope.clusters"] = f"Unknown cluster(s): {', '.join(missing)}."
    bad = sorted(set(out["job_kinds"]) - set(JobKind.values))
    if bad:
        errors["scope.job_kinds"] = f"Unknown job kind(s): {', '.join(bad)}; choose from {', '.join(JobKind.values)}."
    if errors:
        raise ValidationError(errors)
    return out


def clean_content(template_key: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the content fields present in ``fields``; Rego compile errors are
    reported on ``rego_source`` with line and column."""
    from .testing import validate_tests

    template = TEMPLATES.get(template_key)
    if template is None:
        raise ValidationError({"template": f"Unknown template {template_key!r}."})
    out = dict(fields)
    if "action" in out and out["action"] not in Action.values:
        raise ValidationError({"action": f"Choose one of {', '.join(Action.values)}."})
    if "params" in out:
        out["params"] = template.clean_params(out["params"] if isinstance(out["params"], dict) else {})
    if "scope" in out:
        out["scope"] = clean_scope(out["scope"])
    if "tests" in out:
        out["tests"] = validate_tests(out["tests"])
    if "rego_source" in out:
        source = out["rego_source"] or ""
        if template.key != "rego":
            out["rego_source"] = ""
        else:
            try:
                rego.engine().compile(source)
            except rego.RegoSyntaxError as exc:
                raise ValidationError({"rego_source": [f"Line {ln}, column {col}: {msg}" for ln, col, msg in exc.errors]}) from None
            except rego.RegoRuntimeError as exc:
                raise ValidationError({"rego_source": f"The Rego engine is unavailable: {exc}"}) from None
    return out


def content_of(version: PolicyVersion) -> dict[str, Any]:
    return {"template": version.policy.template, "action": version.action, "params": version.params,
            "scope": version.scope, "rego_source": version.rego_source, "tests": version.tests}


def content_digest(version: PolicyVersion) -> str:
    return hashlib.sha256(json.dumps(content_of(version), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _lines(version: PolicyVersion | None) -> list[str]:
    if version is None:
        return []
    content = content_of(version)
    rego_source = content.pop("rego_source")
    text = json.dumps(content, indent=2, sort_keys=True)
    if rego_source:
        text += "\n# Rego module\n" + rego_source
    return text.splitlines()


def diff(old: PolicyVersion | None, new: PolicyVersion) -> list[str]:
    """A unified diff of two versions' content (parameters, scope, action, Rego, tests)."""
    a = f"{old.policy.slug} v{old.number}" if old else "(nothing)"
    return list(difflib.unified_diff(_lines(old), _lines(new), fromfile=a, tofile=f"{new.policy.slug} v{new.number}", lineterm=""))
