"""Validation of OpenLineage events: the envelope by hand (``core``), each standard facet by its own
schema (``facets``), and the same rules through jsonschema alone (``reference``) for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .core import Errors, check_envelope
from .facets import check_facets, explain, validator_for
from .schemas import core_ref


@dataclass
class Checked:
    event: Any
    kind: str | None
    version: str | None
    errors: Errors = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def fields(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for path, message in self.errors:
            out.setdefault(path or "non_field_errors", []).append(message)
        return out


def check_event(event: Any) -> Checked:
    kind, core, errors = check_envelope(event)
    if core is not None and core.embedded_facets and not errors:
        # 1-0-0 and 1-0-1 define some facets inside the core schema, slightly differently from the
        # standalone facet schemas: events naming them are also checked by that core, in jsonschema.
        errors = explain(list(validator_for(core_ref(core, kind)).iter_errors(event)))
    if kind is not None and isinstance(event, dict):
        errors = errors + check_facets(event, kind)
    return Checked(event=event, kind=kind, version=core.version if core else None, errors=errors)


__all__ = ["Checked", "check_event"]
