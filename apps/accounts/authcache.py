"""Token authentication without a database query per call, with revocation still immediate.

Each process keeps the rows it read for a token (the token, its account and the account's project
roles) tagged with an *authorization generation* kept in Redis. Every call reads the generation
(one Redis GET, cheaper than the query it replaces) and uses its copy only while the generation is
the one the copy was read under. Any change to a token, an account or a membership — revocation,
deactivation, a role change, through the services, the admin or the shell — sets a new
generation (signals in apps.py), at once and again after commit, so the next call in every
process reads the database. The generation is read before the database, so a copy can only ever
be tagged older than what it holds. Without Redis nothing is cached: every call reads PostgreSQL.
See docs/adr/0003-api-tokens.md."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.core import generations as tokens

KEY = "accounts:auth:generation"
MAX_ENTRIES = 10_000
_copies: dict[str, tuple[int, Any]] = {}


def generation() -> int | None:
    """The current generation, created if missing; None when Redis cannot be reached."""
    return tokens.read([KEY])[KEY]


def get(key_id: str, gen: int | None) -> Any:
    if gen is None:
        return None
    hit = _copies.get(key_id)
    return hit[1] if hit is not None and hit[0] == gen else None


def put(key_id: str, gen: int | None, row: Any) -> None:
    if gen is None:
        return
    if len(_copies) >= MAX_ENTRIES:
        _copies.clear()
    _copies[key_id] = (gen, row)


def touched(key_id: str, column: int, when: Any) -> None:
    """Record a token's new last use in this process's copy (the database has it already)."""
    hit = _copies.get(key_id)
    if hit is not None:
        gen, row = hit
        _copies[key_id] = (gen, (*row[:column], when, *row[column + 1:]))


def _renew() -> None:
    _copies.clear()
    tokens.renew(KEY)


def changed(**_kwargs: Any) -> None:
    """Signal receiver: something behind token authentication changed."""
    _renew()
    transaction.on_commit(_renew)
