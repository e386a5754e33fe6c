"""Model fields govhub needs beyond Django's."""

from __future__ import annotations

from typing import Any

from django.db import models


class VerbatimJSONField(models.JSONField):
    """JSON stored as the exact text written (PostgreSQL ``json``, not ``jsonb``).

    For snapshots that are written once, digested, and read back whole: the stored bytes are the
    bytes that were hashed (a reader can re-hash them without re-canonicalizing), and the server
    neither parses them into ``jsonb`` nor re-serializes them on read (about half the cost of
    inserting a 60 kB decision snapshot). JSON path queries still work, more slowly; none are used
    on such columns."""

    def db_type(self, connection: Any) -> str:
        return "json"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is not None and not isinstance(value, str):  # psycopg parses ``json`` itself
            return value
        return super().from_db_value(value, expression, connection)
