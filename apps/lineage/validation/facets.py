"""Standard facets checked by their own schemas, found by where they sit and their key.

Validators are compiled once per schema file; results are memoised by the facet's canonical JSON,
because pipelines send the same schema, symlinks or column lineage facet with every run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .core import REQUIRED, Errors, join
from .formats import format_checker
from .schemas import facet_schema_for, registry

MEMO_MAX = 50_000
_validators: dict[str, Draft202012Validator] = {}
_memo: dict[tuple[str, str, str], tuple[tuple[str, str], ...]] = {}
_checker = None
# Canonical JSON of the facets checked during one ingestion call, by object id, so the digests of
# applied facets reuse it (cleared at the start of each call; the payloads outlive the call).
canonical_by_id: dict[int, str] = {}


def validator_for(ref: str) -> Draft202012Validator:
    global _checker
    validator = _validators.get(ref)
    if validator is None:
        if _checker is None:
            _checker = format_checker()
        validator = Draft202012Validator({"$ref": ref}, registry=registry(), format_checker=_checker)
        _validators[ref] = validator
    return validator


def path_of(parts: Any) -> str:
    path = ""
    for part in parts:
        path = join(path, part)
    return path


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The most specific errors: an anyOf/oneOf failure is replaced by its best branch's error."""
    if error.context:
        yield from _leaves(best_match(error.context))
    else:
        yield error


def explain(errors: list[ValidationError], prefix: str = "") -> Errors:
    """jsonschema errors → [(field path, message)], a missing property named in the path."""
    out: Errors = []
    for top in errors:
        for error in _leaves(top):
            path = join(prefix, path_of(error.absolute_path)) if prefix else path_of(error.absolute_path)
            if error.validator == "required" and isinstance(error.instance, dict):
                for name in error.validator_value:
                    if name not in error.instance:
                        out.append((join(path, name), REQUIRED))
            else:
                out.append((path, error.message))
    return sorted(set(out))


def check_facet(location: str, key: str, facet: Any, facets_path: str) -> Errors:
    """Errors of one facet (``facets_path`` is the path of the facets map holding it)."""
    if not isinstance(facet, dict):
        return []  # the envelope check already reported it
    schema = facet_schema_for(location, key, facet.get("_schemaURL"))
    if schema is None:
        return []
    canonical = json.dumps(facet, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    canonical_by_id[id(facet)] = canonical
    memo_key = (schema.uri, key, canonical)
    found = _memo.get(memo_key)
    if found is None:
        found = tuple(explain(list(validator_for(schema.uri).iter_errors({key: facet}))))
        if len(_memo) >= MEMO_MAX:
            _memo.clear()
        _memo[memo_key] = found
    return [(join(facets_path, path) if path else facets_path, message) for path, message in found]


def _facet_maps(event: dict, kind: str) -> Iterator[tuple[str, str, Any]]:
    """(location, path, facets map) for every facets map in an event."""
    if kind == "RunEvent" and isinstance(event.get("run"), dict):
        yield "run", "run.facets", event["run"].get("facets")
    if kind in ("RunEvent", "JobEvent") and isinstance(event.get("job"), dict):
        yield "job", "job.facets", event["job"].get("facets")
    if kind == "DatasetEvent" and isinstance(event.get("dataset"), dict):
        yield "dataset", "dataset.facets", event["dataset"].get("facets")
    if kind in ("RunEvent", "JobEvent"):
        for side, extra, location in (("inputs", "inputFacets", "input"), ("outputs", "outputFacets", "output")):
            items = event.get(side)
            if not isinstance(items, list):
                continue
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    yield "dataset", f"{side}[{i}].facets", item.get("facets")
                    yield location, f"{side}[{i}].{extra}", item.get(extra)


def check_facets(event: dict, kind: str) -> Errors:
    errors: Errors = []
    for location, path, facets in _facet_maps(event, kind):
        if isinstance(facets, dict):
            for key, facet in facets.items():
                errors.extend(check_facet(location, key, facet, path))
    return errors
