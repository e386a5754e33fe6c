"""The string formats govhub asserts, checked the same way on the hot path and by jsonschema
(``format_checker()``), so the two validation paths cannot disagree on them.

JSON Schema 2020-12 treats ``format`` as an annotation unless a validator opts in. govhub opts in
for two (docs/adr/0040-openlineage-validation.md):

- ``uuid``: exactly what jsonschema's built-in checker accepts (``UUID()`` parses it and the
  hyphens sit at 8, 13, 18, 23).
- ``date-time``: ISO 8601, as Python's ``datetime.fromisoformat`` reads it (a calendar date, then
  optionally a time and an offset). Producers in the wild, the official Python client's own test
  events among them, send local times without an offset; govhub reads those as UTC.

``uri`` stays an annotation: producers put bare strings in facet fields declared as URIs (the
OpenLineage proxy's own example does), and nothing in govhub dereferences them.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

from jsonschema import FormatChecker

_DATE_START = re.compile(r"^\d{4}-?\d{2}")


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return len(value) > 23 and all(value[i] == "-" for i in (8, 13, 18, 23))


def parse_datetime(value: str) -> dt.datetime | None:
    """The aware datetime an ISO 8601 string stands for (UTC when it has no offset), or None."""
    if not isinstance(value, str) or not _DATE_START.match(value):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def is_datetime(value: str) -> bool:
    return parse_datetime(value) is not None


def format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("uuid")(lambda v: not isinstance(v, str) or is_uuid(v))
    checker.checks("date-time")(lambda v: not isinstance(v, str) or is_datetime(v))
    return checker
