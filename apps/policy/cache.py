"""In-process caches with cross-process invalidation.

Each cached thing has a *generation* token in Redis. A process keeps its copy while the token is
the one it loaded under; a change anywhere sets a new token (at once, and again after commit so
that no process can cache the pre-commit state under the new token). Without Redis the copies live
at most ``FALLBACK_TTL`` seconds. PostgreSQL stays the source of truth."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction

from apps.core import generations as tokens

T = TypeVar("T")
FALLBACK_TTL = 5.0
NAMES = ("rules", "reference", "serving")

log = logging.getLogger(__name__)
_local: dict[str, tuple[Any, float, Any]] = {}


def _key(name: str) -> str:
    return f"policy:gen:{name}"


_tokens: dict[str, tuple[Any, float]] = {}


def generations(names: tuple[str, ...] = NAMES) -> dict[str, Any]:
    """The current tokens (one Redis round trip at most every TOKEN_TTL); a missing one is created."""
    # Tokens read from Redis are reused for GOVHUB_POLICY_TOKEN_TTL seconds: a change made in another
    # process is seen at most that much later (one made in this process at once, see bump()).
    now = time.monotonic()
    ttl = getattr(settings, "GOVHUB_POLICY_TOKEN_TTL", 0.0)
    fresh = {n: _tokens[n][0] for n in names if n in _tokens and now - _tokens[n][1] < ttl}
    if len(fresh) == len(names):
        return fresh
    by_key = tokens.read([_key(n) for n in names])
    out = {n: by_key[_key(n)] for n in names}
    if any(v is None for v in out.values()):
        return dict.fromkeys(names)
    for name, value in out.items():
        _tokens[name] = (value, now)
    return out


def local(name: str, loader: Callable[[], T], generation: Any = ...) -> T:
    gen = generations((name,))[name] if generation is ... else generation
    hit = _local.get(name)
    now = time.monotonic()
    if hit is not None and hit[0] == gen and (gen is not None or now - hit[1] < FALLBACK_TTL):
        return hit[2]
    value = loader()
    _local[name] = (gen, now, value)
    return value


def _set_new(names: tuple[str, ...]) -> None:
    for name in names:
        _local.pop(name, None)
        # Without Redis, copies elsewhere lapse after FALLBACK_TTL.
        _tokens[name] = (tokens.renew(_key(name)), time.monotonic())


def bump(*names: str) -> None:
    """Something behind these caches changed: drop them here now, everywhere after commit."""
    names = names or NAMES
    _set_new(names)
    transaction.on_commit(lambda: _set_new(names))


def clear_local() -> None:
    _local.clear()
    _tokens.clear()
