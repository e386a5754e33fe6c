"""Job state changes announced on Redis pub/sub, so that long-polling clients wake at once.
PostgreSQL stays the truth: a lost message only delays a waiter until its next re-check."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

_client: Any = None


def channel(job_id: int) -> str:
    return f"govhub:job:{job_id}"


def client() -> Any:
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    return _client


def publish(job_id: int, state: str) -> None:
    try:
        client().publish(channel(job_id), state)
    except Exception as exc:  # Redis down: waiters fall back to re-checking the database
        log.warning("could not announce job %s state %s: %s", job_id, state, exc)


def wait_for_change(job_id: int, seen_state: str, timeout: float, current_state: Any) -> str | None:
    """Block until ``current_state()`` differs from ``seen_state`` or ``timeout`` seconds pass;
    returns the last state read. No database transaction is held while waiting: each re-check is
    one autocommit query, and between re-checks the wait is on Redis (or a short sleep)."""
    deadline = time.monotonic() + timeout
    pubsub = None
    try:
        pubsub = client().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(channel(job_id))
    except Exception as exc:
        log.warning("long poll of job %s without pub/sub: %s", job_id, exc)
        pubsub = None
    try:
        while True:
            state = current_state()
            if state != seen_state:
                return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return state
            step = min(remaining, 1.0)  # re-check at least once a second: a message may be lost
            if pubsub is not None:
                try:
                    pubsub.get_message(timeout=step)
                    continue
                except Exception:
                    pubsub = None
            time.sleep(min(step, 0.2))
    finally:
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception as exc:
                log.debug("closing the pub/sub connection failed: %s", exc)
