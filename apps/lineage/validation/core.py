"""The OpenLineage event envelope, checked by hand on the hot path.

It mirrors the vendored core schemas (every published version: RunEvent, and from 2-0-0
DatasetEvent and JobEvent, the eventType enum and facet ``_deleted`` flag of the version the event's
``schemaURL`` names) and is held to them by a differential test against jsonschema
(``tests/lineage/test_validation.py``). Standard facets are checked by their own schemas in
``facets.py``. See docs/adr/0040-openlineage-validation.md for why this is not jsonschema itself.
"""

from __future__ import annotations

from typing import Any

from .formats import is_datetime, is_uuid
from .schemas import CoreVersion, core_for

Errors = list[tuple[str, str]]

REQUIRED = "This field is required."


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _string(value: Any, path: str, errors: Errors, fmt: str | None = None) -> None:
    if not isinstance(value, str):
        errors.append((path, "Must be a string."))
    elif fmt == "date-time" and not is_datetime(value):
        errors.append((path, f"{value!r} is not an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)."))
    elif fmt == "uuid" and not is_uuid(value):
        errors.append((path, f"{value!r} is not a valid UUID."))


def _object(value: Any, path: str, errors: Errors) -> bool:
    if not isinstance(value, dict):
        errors.append((path, "Must be a JSON object."))
        return False
    return True


def _facets(value: Any, path: str, errors: Errors, deleted_flag: bool) -> None:
    """A facets map: every value is a facet (an object with ``_producer`` and ``_schemaURL``).
    Paths are only built for errors: this runs for every facet of every event."""
    if not isinstance(value, dict):
        errors.append((path, "Must be a JSON object."))
        return
    for key, facet in value.items():
        if (isinstance(facet, dict) and isinstance(facet.get("_producer"), str) and isinstance(facet.get("_schemaURL"), str)
                and not (deleted_flag and "_deleted" in facet and not isinstance(facet["_deleted"], bool))):
            continue
        fpath = join(path, key)
        if not _object(facet, fpath, errors):
            continue
        for name in ("_producer", "_schemaURL"):
            if name not in facet:
                errors.append((join(fpath, name), REQUIRED))
            else:
                _string(facet[name], join(fpath, name), errors)
        if deleted_flag and "_deleted" in facet and not isinstance(facet["_deleted"], bool):
            errors.append((join(fpath, "_deleted"), "Must be true or false."))


def _named(value: dict, path: str, errors: Errors) -> None:
    if isinstance(value.get("namespace"), str) and isinstance(value.get("name"), str):
        return
    for name in ("namespace", "name"):
        if name not in value:
            errors.append((join(path, name), REQUIRED))
        else:
            _string(value[name], join(path, name), errors)


def _job(value: Any, path: str, errors: Errors, core: CoreVersion) -> None:
    if not _object(value, path, errors):
        return
    _named(value, path, errors)
    if "facets" in value:
        _facets(value["facets"], f"{path}.facets", errors, core.deleted_flag)


def _dataset(value: Any, path: str, errors: Errors, core: CoreVersion, extra: str | None) -> None:
    if not _object(value, path, errors):
        return
    _named(value, path, errors)
    if "facets" in value:
        _facets(value["facets"], f"{path}.facets", errors, core.deleted_flag)
    if extra and extra in value:
        _facets(value[extra], f"{path}.{extra}", errors, False)


def _datasets(value: Any, path: str, errors: Errors, core: CoreVersion, extra: str) -> None:
    if not isinstance(value, list):
        errors.append((path, "Must be a JSON array."))
        return
    for i, item in enumerate(value):
        _dataset(item, f"{path}[{i}]", errors, core, extra)


def _base(event: dict, errors: Errors) -> None:
    for name, fmt in (("eventTime", "date-time"), ("producer", None), ("schemaURL", None)):
        if name not in event:
            errors.append((name, REQUIRED))
        else:
            _string(event[name], name, errors, fmt)


def _run_event(event: dict, core: CoreVersion) -> Errors:
    errors: Errors = []
    _base(event, errors)
    if "eventType" in event:
        value = event["eventType"]
        if not isinstance(value, str):
            errors.append(("eventType", "Must be a string."))
        elif value not in core.event_type_enum:
            errors.append(("eventType", f"{value!r} is not one of {', '.join(sorted(core.event_type_enum))} (spec {core.version})."))
    if "run" not in event:
        errors.append(("run", REQUIRED))
    elif _object(event["run"], "run", errors):
        run = event["run"]
        if "runId" not in run:
            errors.append(("run.runId", REQUIRED))
        else:
            _string(run["runId"], "run.runId", errors, "uuid")
        if "facets" in run:
            _facets(run["facets"], "run.facets", errors, False)
    if "job" not in event:
        errors.append(("job", REQUIRED))
    else:
        _job(event["job"], "job", errors, core)
    if "inputs" in event:
        _datasets(event["inputs"], "inputs", errors, core, "inputFacets")
    if "outputs" in event:
        _datasets(event["outputs"], "outputs", errors, core, "outputFacets")
    return errors


def _dataset_event(event: dict, core: CoreVersion) -> Errors:
    errors: Errors = []
    _base(event, errors)
    if "dataset" not in event:
        errors.append(("dataset", REQUIRED))
    else:
        _dataset(event["dataset"], "dataset", errors, core, None)
    if "job" in event and "run" in event:
        errors.append(("run", "A DatasetEvent carries no job and run; send a RunEvent."))
    return errors


def _job_event(event: dict, core: CoreVersion) -> Errors:
    errors: Errors = []
    _base(event, errors)
    if "job" not in event:
        errors.append(("job", REQUIRED))
    else:
        _job(event["job"], "job", errors, core)
    if "inputs" in event:
        _datasets(event["inputs"], "inputs", errors, core, "inputFacets")
    if "outputs" in event:
        _datasets(event["outputs"], "outputs", errors, core, "outputFacets")
    if "run" in event:
        errors.append(("run", "A JobEvent carries no run; send a RunEvent."))
    return errors


_STRUCTURE = {
    "RunEvent": lambda e: "run" in e and "job" in e,
    "DatasetEvent": lambda e: "dataset" in e and not ("job" in e and "run" in e),
    "JobEvent": lambda e: "job" in e and "run" not in e,
}
_CHECKS = {"RunEvent": _run_event, "DatasetEvent": _dataset_event, "JobEvent": _job_event}


def _guess(event: dict, candidates: list[str]) -> str:
    """The event type a malformed event most likely meant, for its error messages."""
    if "run" in event and "RunEvent" in candidates:
        return "RunEvent"
    if "dataset" in event and "job" not in event and "DatasetEvent" in candidates:
        return "DatasetEvent"
    if "job" in event and "JobEvent" in candidates:
        return "JobEvent"
    return candidates[0]


def check_envelope(event: Any) -> tuple[str | None, CoreVersion | None, Errors]:
    """(event type, core version, errors) for a decoded event."""
    if not isinstance(event, dict):
        return None, None, [("", "An OpenLineage event must be a JSON object.")]
    core, named = core_for(event.get("schemaURL"))
    if named:
        return named, core, _CHECKS[named](event, core)
    candidates = list(core.event_types)
    if len(candidates) == 1:
        return candidates[0], core, _CHECKS[candidates[0]](event, core)
    # oneOf: exactly one type must validate. Types whose required keys are missing (or whose
    # forbidden keys are present) cannot, so only the others are checked in full.
    possible = [name for name in candidates if _STRUCTURE[name](event)]
    if not possible:
        guess = _guess(event, candidates)
        return guess, core, _CHECKS[guess](event, core)
    results = {name: _CHECKS[name](event, core) for name in possible}
    valid = [name for name, errs in results.items() if not errs]
    if len(valid) == 1:
        return valid[0], core, []
    if len(valid) > 1:
        return None, core, [("", f"The event is valid as more than one of {', '.join(valid)}; name one in schemaURL "
                                 f"(e.g. …/OpenLineage.json#/$defs/{valid[0]}).")]
    guess = _guess(event, possible)
    return guess, core, results[guess]
