"""A validated OpenLineage event → the plain facts govhub stores (no database access except the
cached reference codes used by the semantic checks)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from apps.catalog.models import Classification

from ..validation import Checked
from ..validation.formats import parse_datetime

MAX_NAME = 500  # catalog_asset.namespace / name
MAX_JOB_NAME = 1000
GOVHUB_FACETS = ("govhub_residency", "govhub_consent")
# Dataset facets that change the catalog or govhub's dataset metadata; a repeat of the same set
# (same digest) is skipped. Everything else is kept only in the raw event.
APPLIED_DATASET_FACETS = ("datasetType", "documentation", "ownership", "schema", "symlinks", "tags", *GOVHUB_FACETS)
APPLIED_JOB_FACETS = ("documentation", "jobType", "ownership", "sourceCodeLocation", "sql", "tags")
_NUL = re.compile(r"(?:^|[^\\])(?:\\\\)*\\u0000")  # an escaped NUL, not an escaped backslash before "u0000"
KIND_NAMES = {"RunEvent": "run", "DatasetEvent": "dataset", "JobEvent": "job"}


class EventRejected(Exception):
    """An event that is valid OpenLineage but that govhub cannot store as it is."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {v[0]}" for k, v in fields.items()))
        self.fields = fields


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def facets_digest(facets: dict[str, Any]) -> str:
    """``digest_of(facets)``, reusing the canonical JSON the validator made of each facet."""
    from ..validation.facets import canonical_by_id

    parts = []
    for key in sorted(facets):
        value = facets[key]
        text = canonical_by_id.get(id(value))
        parts.append(json.dumps(key, ensure_ascii=False) + ":" + (text if text is not None else canonical_json(value)))
    return hashlib.sha256(("{" + ",".join(parts) + "}").encode()).hexdigest()


@dataclass
class DatasetRef:
    namespace: str
    name: str
    path: str  # "inputs[0]", "outputs[1]", "dataset", "outputs[0].facets.columnLineage…"
    role: str  # in | out | static
    facets: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def dataset_type(self) -> str:
        facet = self.facets.get("datasetType")
        return str(facet.get("datasetType", "")).upper() if isinstance(facet, dict) else ""

    @cached_property
    def applied_facets(self) -> dict[str, Any]:
        out = {k: self.facets[k] for k in APPLIED_DATASET_FACETS if k in self.facets}
        if self.role == "out" and "columnLineage" in self.facets:
            out["columnLineage"] = self.facets["columnLineage"]
        return out

    @cached_property
    def applied_digest(self) -> str:
        """Digest of the facets govhub applies ("" when there are none): a repeat is skipped."""
        return facets_digest(self.applied_facets) if self.applied_facets else ""

    @property
    def symlinks(self) -> list[tuple[str, str, str]]:
        facet = self.facets.get("symlinks")
        if not isinstance(facet, dict):
            return []
        return [(i["namespace"], i["name"], str(i.get("type", ""))) for i in facet.get("identifiers", [])
                if isinstance(i, dict) and i.get("namespace") and i.get("name")
                and len(i["namespace"]) <= MAX_NAME and len(i["name"]) <= MAX_NAME]


@dataclass
class Event:
    index: int
    raw: dict[str, Any]
    canonical: str
    digest: bytes
    kind: str  # run | dataset | job
    event_type: str
    event_time: dt.datetime
    producer: str
    schema_url: str
    run_uuid: uuid.UUID | None = None
    job_namespace: str = ""
    job_name: str = ""
    job_facets: dict[str, Any] = field(default_factory=dict)
    run_facets: dict[str, Any] = field(default_factory=dict)
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    dataset: DatasetRef | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def refs(self) -> list[DatasetRef]:
        return [*self.inputs, *self.outputs, *([self.dataset] if self.dataset else [])]

    @property
    def has_job(self) -> bool:
        return self.kind in ("run", "job")


# --- reference codes for the semantic checks, cached per process --------------------------------

_CODES: dict[str, tuple[float, frozenset[str]]] = {}
CODES_TTL_S = 60.0


def _codes(what: str) -> frozenset[str]:
    cached = _CODES.get(what)
    if cached and time.monotonic() - cached[0] < CODES_TTL_S:
        return cached[1]
    from apps.catalog.models import Jurisdiction, Purpose

    model = Jurisdiction if what == "jurisdiction" else Purpose
    codes = frozenset(model.objects.values_list("pk", flat=True))
    _CODES[what] = (time.monotonic(), codes)
    return codes


def reset_code_cache() -> None:
    _CODES.clear()


def split_codes(value: str) -> list[str]:
    return [c.strip().upper() for c in value.replace(";", ",").replace(" ", ",").split(",") if c.strip()]


def _check_dataset_semantics(ref: DatasetRef, errors: dict[str, list[str]]) -> None:
    for attr in ("namespace", "name"):
        value = getattr(ref, attr)
        if not value.strip():
            errors.setdefault(f"{ref.path}.{attr}", []).append("Must not be empty.")
        elif len(value) > MAX_NAME:
            errors.setdefault(f"{ref.path}.{attr}", []).append(f"At most {MAX_NAME} characters.")
    tags = ref.facets.get("tags")
    if isinstance(tags, dict):
        for i, tag in enumerate(tags.get("tags") or []):
            if not isinstance(tag, dict) or tag.get("field"):
                continue
            key, value, where = str(tag.get("key", "")).lower(), str(tag.get("value", "")), f"{ref.path}.facets.tags.tags[{i}].value"
            if key == "jurisdiction":
                unknown = [c for c in split_codes(value) if c not in _codes("jurisdiction")]
                if unknown or not split_codes(value):
                    errors.setdefault(where, []).append(f"Unknown jurisdiction code(s): {', '.join(unknown) or value!r}.")
            elif key == "classification" and value.lower() not in Classification.values:
                errors.setdefault(where, []).append(f"Classification must be one of {', '.join(Classification.values)}.")
    residency = ref.facets.get("govhub_residency")
    if isinstance(residency, dict):
        codes = [residency.get("storageJurisdiction", ""), *(residency.get("processingJurisdictions") or [])]
        unknown = [c for c in codes if c not in _codes("jurisdiction")]
        if unknown:
            errors.setdefault(f"{ref.path}.facets.govhub_residency", []).append(f"Unknown jurisdiction code(s): {', '.join(unknown)}.")
    consent = ref.facets.get("govhub_consent")
    if isinstance(consent, dict):
        unknown = [p for p in consent.get("purposes") or [] if p not in _codes("purpose")]
        if unknown:
            errors.setdefault(f"{ref.path}.facets.govhub_consent.purposes", []).append(f"Unknown purpose code(s): {', '.join(unknown)}.")
        scope = [c for c in consent.get("jurisdictionScope") or [] if c not in _codes("jurisdiction")]
        if scope:
            errors.setdefault(f"{ref.path}.facets.govhub_consent.jurisdictionScope", []).append(f"Unknown jurisdiction code(s): {', '.join(scope)}.")


def _refs(items: Any, side: str, role: str) -> list[DatasetRef]:
    return [DatasetRef(namespace=item["namespace"], name=item["name"], path=f"{side}[{i}]", role=role,
                       facets=item.get("facets") or {}) for i, item in enumerate(items or [])]


def normalize(checked: Checked, index: int) -> Event:
    """Raises EventRejected for what govhub cannot store (empty or over-long names, unknown codes)."""
    raw = checked.event
    canonical = canonical_json(raw)
    if "\\u0000" in canonical and _NUL.search(canonical):
        raise EventRejected({"non_field_errors": ["The event contains a NUL character (\\u0000), which govhub cannot store."]})
    event_time = parse_datetime(raw["eventTime"])
    assert event_time is not None  # the validator checked it
    event = Event(
        index=index, raw=raw, canonical=canonical, digest=hashlib.sha256(canonical.encode()).digest(),
        kind=KIND_NAMES[checked.kind or "RunEvent"], event_type=str(raw.get("eventType") or ""), event_time=event_time,
        producer=raw["producer"], schema_url=raw["schemaURL"],
    )
    errors: dict[str, list[str]] = {}
    if event.kind in ("run", "job"):
        job = raw["job"]
        event.job_namespace, event.job_name, event.job_facets = job["namespace"], job["name"], job.get("facets") or {}
        for attr, value in (("namespace", event.job_namespace), ("name", event.job_name)):
            if not value.strip():
                errors.setdefault(f"job.{attr}", []).append("Must not be empty.")
            elif len(value) > MAX_JOB_NAME:
                errors.setdefault(f"job.{attr}", []).append(f"At most {MAX_JOB_NAME} characters.")
        event.inputs = _refs(raw.get("inputs"), "inputs", "in")
        event.outputs = _refs(raw.get("outputs"), "outputs", "out")
    if event.kind == "run":
        event.run_uuid = uuid.UUID(raw["run"]["runId"])
        event.run_facets = raw["run"].get("facets") or {}
    if event.kind == "dataset":
        item = raw["dataset"]
        event.dataset = DatasetRef(namespace=item["namespace"], name=item["name"], path="dataset", role="static",
                                   facets=item.get("facets") or {})
    for ref in event.refs:
        _check_dataset_semantics(ref, errors)
    if errors:
        raise EventRejected(errors)
    return event
