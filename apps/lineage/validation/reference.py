"""The same rules through jsonschema alone: the core schema the event's schemaURL names (the newest
vendored core when it names none govhub has) plus every standard facet by its key. Slow (≈0.4–1 ms an
event); used by the tests to hold the hand-written envelope check to the official schemas."""

from __future__ import annotations

from typing import Any

from .core import Errors
from .facets import check_facets, explain, validator_for
from .schemas import core_for, core_ref


def reference_errors(event: Any) -> Errors:
    if not isinstance(event, dict):
        return [("", "An OpenLineage event must be a JSON object.")]
    core, named = core_for(event.get("schemaURL"))
    errors = explain(list(validator_for(core_ref(core, named)).iter_errors(event)))
    if errors:
        return errors
    kind = named or next((t for t in core.event_types if not list(validator_for(core_ref(core, t)).iter_errors(event))), None)
    return check_facets(event, kind) if kind else errors
