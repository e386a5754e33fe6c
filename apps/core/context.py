"""Who is acting and under which request id: carried in contextvars so that services and
``audit.record`` need no request object (tasks and commands set them too)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    label: str  # username, "system:<task>", "cli:<command>"
    kind: str  # human | service | system

    @classmethod
    def for_user(cls, user: Any) -> "Actor":
        if user is None or not getattr(user, "is_authenticated", False):
            return SYSTEM
        return cls(user_id=user.pk, label=user.get_username(), kind=getattr(user, "kind", "human"))


SYSTEM = Actor(user_id=None, label="system", kind="system")

_actor: ContextVar[Actor] = ContextVar("govhub_actor", default=SYSTEM)
_request_id: ContextVar[str] = ContextVar("govhub_request_id", default="")


def current_actor() -> Actor:
    return _actor.get()


def current_request_id() -> str:
    rid = _request_id.get()
    if not rid:
        rid = uuid.uuid4().hex
        _request_id.set(rid)
    return rid


@contextlib.contextmanager
def acting_as(actor: Actor | Any, request_id: str | None = None) -> Iterator[Actor]:
    """Run a block as ``actor`` (an Actor or a user); used by tasks, commands and middleware."""
    if not isinstance(actor, Actor):
        actor = Actor.for_user(actor)
    t1 = _actor.set(actor)
    t2 = _request_id.set(request_id or uuid.uuid4().hex)
    try:
        yield actor
    finally:
        _actor.reset(t1)
        _request_id.reset(t2)


def set_actor(actor: Actor) -> None:
    _actor.set(actor)


def set_request_id(request_id: str) -> None:
    _request_id.set(request_id)
