"""Raw SQL for the hot paths (token authentication, audit inserts, policy facts, lineage ingestion
and graph queries): psycopg's server-side binding, on Django's connection and in its transaction.
Parameters go over the wire apart from the query text (binary by default: arrays of JSON text are
sent as they are, not escaped). ``prepare=True`` plans a statement once per connection instead of
once per call (Django turns psycopg's automatic preparation off for PgBouncer's sake; PgBouncer
>= 1.21 handles protocol-level prepared statements). Queries run this way are not seen by Django's
query log."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import connection


def _raw() -> psycopg.Connection:
    connection.ensure_connection()
    return connection.connection


@functools.lru_cache(maxsize=64)
def _binary(sql: str) -> str:
    """Every placeholder in binary format (``%s`` → ``%b``): strings, arrays and JSON text go over
    the wire as they are, with no escaping on either side."""
    return re.sub(r"%(\([a-z_]+\))?s", lambda m: f"%{m.group(1) or ''}b", sql)


def rows(sql: str, params: Any = None, *, binary: bool = True, prepare: bool | None = None) -> list[tuple]:
    """``binary=False``: parameters and results in text format, loaded into the same Python types
    Django's own cursors return."""
    with psycopg.Cursor(_raw()) as cur:
        cur.execute(_binary(sql) if binary else sql, params, binary=binary, prepare=prepare)
        return cur.fetchall() if cur.description else []


def pipelined(queries: Sequence[tuple[str, Any]], *, binary: bool = True, prepare: bool | None = None) -> list[list[tuple]]:
    """Several independent queries in one round trip."""
    conn = _raw()
    results: list[list[tuple]] = []
    with conn.pipeline():
        cursors = []
        for sql, params in queries:
            cur = psycopg.Cursor(conn)
            cur.execute(_binary(sql) if binary else sql, params, binary=binary, prepare=prepare)
            cursors.append(cur)
    for cur in cursors:
        results.append(cur.fetchall() if cur.description else [])
        cur.close()
    return results


def jsonb(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
