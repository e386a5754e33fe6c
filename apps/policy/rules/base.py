"""What every rule shares: typed parameters, a scope, findings turned into violations.

A rule is a policy version compiled for evaluation: its template (Python code), its parameters,
its scope and its enforcement action. Rules read the facts document (apps/policy/facts.py) through
``Facts``, which adds cached set views; they never touch the database, so a stored snapshot replays
to the same result (what-if)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

SCOPE_KEYS = ("projects", "clusters", "asset_tags", "job_kinds")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # str | list | bool | int | decimal | choice | mapping | text
    default: Any
    label: str
    help: str = ""
    choices: tuple[str, ...] = ()

    def clean(self, value: Any) -> Any:
        """Coerce a value from JSON or a form into the parameter's type (ValueError names the problem)."""
        if value is None:
            return self.default
        if self.kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if self.kind == "int":
            number = int(value)
            if number < 0:
                raise ValueError("must not be negative")
            return number
        if self.kind == "decimal":
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise ValueError("must be a number") from None
            if number < 0:
                raise ValueError("must not be negative")
            return str(number)
        if self.kind == "list":
            items = value.replace("\n", ",").split(",") if isinstance(value, str) else list(value)
            items = [str(i).strip() for i in items if str(i).strip()]
            bad = [i for i in items if self.choices and i not in self.choices]
            if bad:
                raise ValueError(f"unknown value(s) {', '.join(bad)}; choose from {', '.join(self.choices)}")
            return items
        if self.kind == "mapping":
            if isinstance(value, str):
                pairs = [line.split("=", 1) for line in value.replace(",", "\n").splitlines() if line.strip()]
                if any(len(p) != 2 for p in pairs):
                    raise ValueError("write one key=value per line")
                value = {k.strip(): v.strip() for k, v in pairs}
            if not isinstance(value, dict):
                raise ValueError("must be an object of key: number")
            return {str(k): int(v) for k, v in value.items()}
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"choose one of {', '.join(self.choices)}")
            return value
        return str(value)


@dataclass(frozen=True)
class Finding:
    message: str
    asset: dict | None = None  # the job input the violation is about
    upstream: dict | None = None  # the upstream asset that imposes the constraint, when inherited
    kind: str = "violation"  # violation | missing_fact | engine_error | timeout
    action: str | None = None  # overrides the rule's action (a Rego ``warn`` message is a warning)


@dataclass(frozen=True)
class Scope:
    projects: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    asset_tags: tuple[str, ...] = ()
    job_kinds: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict | None) -> "Scope":
        data = data or {}
        return cls(**{k: tuple(str(v) for v in data.get(k) or ()) for k in SCOPE_KEYS})

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in SCOPE_KEYS}

    def describe(self) -> str:
        parts = [f"{k.replace('_', ' ')}: {', '.join(getattr(self, k))}" for k in SCOPE_KEYS if getattr(self, k)]
        return "; ".join(parts) or "everything"


class Facts:
    """The facts document with the set views rules need, computed once per document."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc
        self.job: dict[str, Any] = doc.get("job", {})
        self.inputs: list[dict[str, Any]] = doc.get("inputs", [])
        self.clusters: list[dict[str, Any]] = doc.get("clusters", [])
        self.project: dict[str, Any] = doc.get("project", {})
        self.blocs: dict[str, list[str]] = doc.get("blocs", {})
        self._sets: dict[int, frozenset[str]] = {}
        # Memos: with "any allowed", every input is judged on every candidate cluster, and the same
        # few jurisdiction lists recur across inputs (a 50-input job on 6 clusters: ~170 findings).
        self._expanded: dict[tuple[str, ...], frozenset[str]] = {}
        self._shown: dict[frozenset[str], str] = {}
        self._covered: dict[tuple[str, frozenset[str]], frozenset[str]] = {}

    def expand(self, codes: Iterable[str]) -> frozenset[str]:
        key = tuple(codes)
        found = self._expanded.get(key)
        if found is None:
            out: set[str] = set()
            for code in key:
                out.update(self.blocs.get(code, (code,)))
            found = self._expanded[key] = frozenset(out)
        return found

    def display(self, codes: Iterable[str]) -> str:
        key = frozenset(codes)
        if key not in self._shown:
            self._shown[key] = display(key, self.blocs)
        return self._shown[key]

    def transfer_destinations(self, origin: str, bases: frozenset[str]) -> frozenset[str]:
        """Countries data stored in ``origin`` may be moved to under a transfer rule with one of ``bases``."""
        key = (origin, bases)
        if key not in self._covered:
            codes = {origin, *self.doc.get("origin_blocs", {}).get(origin, [])}
            self._covered[key] = frozenset(c for t in self.doc.get("transfers", []) if t["origin"] in codes and t["basis"] in bases
                                           for c in t["countries"])
        return self._covered[key]

    def jurisdictions(self, item: dict) -> frozenset[str]:
        key = id(item)
        if key not in self._sets:
            self._sets[key] = frozenset((item.get("effective") or {}).get("jurisdictions", ()))
        return self._sets[key]

    def job_cost(self, cluster: dict) -> Decimal:
        return (Decimal(str(self.job.get("gpus", 0))) * Decimal(str(self.job.get("estimated_hours", 0)))
                * Decimal(cluster["price_per_gpu_hour"])).quantize(Decimal("0.01"))


def display(codes: Iterable[str], blocs: dict[str, list[str]]) -> str:
    """Country codes with whole blocs shown as the bloc (EU rather than its 27 members)."""
    remaining, shown = set(codes), []
    for bloc, members in sorted(blocs.items(), key=lambda kv: -len(kv[1])):
        if members and set(members) <= remaining:
            shown.append(bloc)
            remaining -= set(members)
    return ", ".join(sorted(shown) + sorted(remaining)) or "nowhere"


def kind_label(item: dict) -> str:
    return {"dataset": "dataset", "model": "model", "fine_tune": "fine-tune"}.get(item.get("kind") or "", "asset")


def asset_label(item: dict) -> str:
    return f"{kind_label(item)} {item.get('name')}"


def located(item: dict) -> str:
    """``dataset s3://bucket/name``: an asset with where it lives."""
    where = f"{item['namespace'].rstrip('/')}/" if item.get("namespace") else ""
    return f"{kind_label(item)} {where}{item.get('name')}"


class Template:
    key: str = ""
    label: str = ""
    description: str = ""
    params: tuple[Param, ...] = ()
    cluster_dependent: bool = False
    serving: bool = False  # applies to /decide (a model served in a jurisdiction)

    def clean_params(self, raw: dict | None) -> dict[str, Any]:
        raw = dict(raw or {})
        unknown = sorted(set(raw) - {p.name for p in self.params})
        errors: dict[str, str] = {}
        if unknown:
            errors["params"] = f"Unknown parameter(s) for {self.key}: {', '.join(unknown)}."
        out: dict[str, Any] = {}
        for p in self.params:
            try:
                out[p.name] = p.clean(raw.get(p.name))
            except (ValueError, TypeError) as exc:
                errors[f"params.{p.name}"] = f"{p.label}: {exc}."
        if errors:
            raise ValidationError(errors)
        self.validate(out)
        return out

    def validate(self, params: dict[str, Any]) -> None:
        """Hook: cross-parameter checks (ValidationError naming ``params.<name>``)."""

    def check(self, rule: "Rule", facts: Facts, cluster: dict | None) -> Iterable[Finding]:  # pragma: no cover
        raise NotImplementedError


@dataclass
class Rule:
    """One policy version, ready to evaluate."""

    policy: str
    policy_id: int
    version: int
    version_id: int
    template: Template
    action: str
    params: dict[str, Any]
    scope: Scope = field(default_factory=Scope)
    shadow: bool = False
    compiled: Any = None  # a compiled Rego module

    @property
    def cluster_dependent(self) -> bool:
        """Judged per candidate cluster? A Rego module only when it reads ``input.cluster``."""
        if self.template.key == "rego" and self.compiled is not None:
            return bool(getattr(self.compiled, "uses_cluster", True))
        return self.template.cluster_dependent

    def applies_to_job(self, facts: Facts) -> bool:
        s = self.scope
        if s.projects and facts.job.get("project") not in s.projects:
            return False
        if s.job_kinds and facts.job.get("kind") not in s.job_kinds:
            return False
        return not s.asset_tags or bool(self.inputs(facts))

    def applies_to_cluster(self, cluster: dict | None) -> bool:
        return cluster is None or not self.scope.clusters or cluster["name"] in self.scope.clusters

    def inputs(self, facts: Facts) -> list[dict]:
        if not self.scope.asset_tags:
            return facts.inputs
        tags = set(self.scope.asset_tags)
        return [i for i in facts.inputs if tags.intersection(i.get("tags") or ())]

    def violation(self, finding: Finding, cluster: dict | None) -> dict[str, Any]:
        asset, upstream = finding.asset or {}, finding.upstream or {}
        message = finding.message[:1].upper() + finding.message[1:]
        inherited = bool(upstream) and upstream.get("asset_id") != asset.get("asset_id")
        return {
            "policy": self.policy, "version": self.version, "version_id": self.version_id, "template": self.template.key,
            "action": finding.action or self.action, "kind": finding.kind, "message": message,
            "asset_id": asset.get("asset_id"), "asset": asset.get("name"),
            "upstream_id": upstream.get("asset_id") if inherited else None,
            "upstream": upstream.get("name") if inherited else None,
            "cluster": cluster["name"] if cluster else None, "waived": False,
        }

    def evaluate(self, facts: Facts, cluster: dict | None) -> list[dict[str, Any]]:
        if not self.applies_to_job(facts) or not self.applies_to_cluster(cluster):
            return []
        return [self.violation(f, cluster) for f in self.template.check(self, facts, cluster)]
