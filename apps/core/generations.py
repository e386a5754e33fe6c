"""Generation tokens in Redis: how in-process caches learn that something behind them changed.

A cache keeps its copy while the token it was read under is still the current one; whoever
changes what is behind the cache sets a new random token. Used by the policy caches
(apps/policy/cache.py) and by token authentication (apps/accounts/authcache.py); each decides
what to do when Redis cannot be reached (``read`` then gives ``None``)."""

from __future__ import annotations

import logging
import secrets

from django.core.cache import cache

log = logging.getLogger(__name__)


def read(keys: list[str]) -> dict[str, int | None]:
    """The current token of each key, created where missing; all ``None`` without Redis."""
    try:
        found = cache.get_many(keys)
        out = {key: found.get(key) for key in keys}
        for key, value in out.items():
            if value is None:
                cache.add(key, secrets.randbits(48), None)
                out[key] = cache.get(key)
        return out
    except Exception as exc:
        log.debug("generation tokens unavailable: %s", exc)
        return dict.fromkeys(keys)


def renew(key: str) -> int:
    """Set a new token and return it. If Redis cannot take it, try to drop the old one, so that no
    copy stays tagged with a token that is still current once Redis is back."""
    token = secrets.randbits(48)
    try:
        cache.set(key, token, None)
    except Exception as exc:
        log.warning("could not publish a new generation for %s: %s", key, exc)
        try:
            cache.delete(key)
        except Exception:
            log.debug("and could not delete %s either", key)
    return token
