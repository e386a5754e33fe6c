"""Keyed pseudonyms: personal data stays out of the Merkle leaves.

Each data subject (``user:<id>``, or ``login:<name>`` for a sign-in attempt with an unknown name)
gets a random 256-bit key in ``audit_subjectkey`` — a table that, unlike the ledger, may be
changed: erasing a subject destroys its key. A personal value in an event (the actor, a user's
name or e-mail in a snapshot, the object's display text when it names a person) enters the leaf
as ``ps:<HMAC-SHA256(subject key, field || 0x00 || value)[:16] hex>``.

``audit.record`` computes the pseudonyms when it writes the event (same transaction) and keeps
them in the row's ``pseudonyms`` column as ``{path: [subject, pseudonym]}``; the leaf is built from
that column, so verifying the tree never needs a key. Erasure (``erase_subject``) destroys the key
and redacts the plain-text columns of the subject's events; the leaves do not change, so every
proof and every exported bundle still verifies (docs/adr/0031-pseudonyms-and-erasure.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

from django.db import connection

# Fields of a snapshot that name or contact a person, by object type.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "accounts.user": ("username", "email", "first_name", "last_name"),
}
# Object types whose display text names a person.
PERSONAL_REPR = {"accounts.user", "accounts.membership"}
# ``extra`` keys that hold a person's name (sign-in attempts).
PERSONAL_EXTRA = ("username",)
ERASED = "[erased]"
PREFIX = "ps:"

_CACHE_TTL = 60.0
_cache: dict[str, tuple[bytes | None, float]] = {}


def _subject_key(subject: str) -> bytes | None:
    """The subject's key, created on first use in the caller's transaction; None once erased."""
    hit = _cache.get(subject)
    now = time.monotonic()
    if hit is not None and now - hit[1] < _CACHE_TTL:
        return hit[0]
    with connection.cursor() as cur:
        cur.execute("SELECT key, erased_at FROM audit_subjectkey WHERE subject = %s", [subject])
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "INSERT INTO audit_subjectkey (subject, key, created_at) VALUES (%s, %s, now()) ON CONFLICT (subject) DO NOTHING",
                [subject, secrets.token_bytes(32)],
            )
            cur.execute("SELECT key, erased_at FROM audit_subjectkey WHERE subject = %s", [subject])
            row = cur.fetchone()
    key = bytes(row[0]) if row[0] is not None and row[1] is None else None
    _cache[subject] = (key, now)
    return key


def forget_cached(subject: str | None = None) -> None:
    if subject is None:
        _cache.clear()
    else:
        _cache.pop(subject, None)


def pseudonym(subject: str, field: str, value: Any) -> str:
    key = _subject_key(subject)
    if key is None:  # erased subject: an unlinkable one-off value
        return PREFIX + secrets.token_hex(16)
    digest = hmac.new(key, f"{field}\x00{value}".encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


def _object_subject(object_type: str, object_id: str, before: dict | None, after: dict | None) -> str | None:
    if object_type == "accounts.user" and object_id:
        return f"user:{object_id}"
    if object_type == "accounts.membership":
        user_id = (after or {}).get("user_id") or (before or {}).get("user_id")
        return f"user:{user_id}" if user_id else None
    return None


def compute(*, actor_kind: str, actor_id: int | None, object_type: str, object_id: str, object_repr: str,
            before: dict | None, after: dict | None, extra: dict | None) -> dict[str, list[str]]:
    """``{path: [subject, pseudonym]}`` for every personal value of one event."""
    out: dict[str, list[str]] = {}
    if actor_kind != "system" and actor_id is not None:
        subject = f"user:{actor_id}"
        out["actor"] = [subject, pseudonym(subject, "actor", subject)]
    subject = _object_subject(object_type, object_id, before, after)
    if subject and object_type in PERSONAL_REPR and object_repr:
        out["object_repr"] = [subject, pseudonym(subject, "object_repr", object_repr)]
    if subject:
        for section, data in (("before", before), ("after", after)):
            for name in PERSONAL_FIELDS.get(object_type, ()):
                if isinstance(data, dict) and data.get(name) not in (None, ""):
                    out[f"{section}.{name}"] = [subject, pseudonym(subject, name, data[name])]
    for name in PERSONAL_EXTRA:
        if isinstance(extra, dict) and extra.get(name) not in (None, ""):
            extra_subject = subject or f"login:{str(extra[name]).lower()}"
            out[f"extra.{name}"] = [extra_subject, pseudonym(extra_subject, name, extra[name])]
    return out


def resolve(ref: str) -> str | None:
    """The subject behind an actor pseudonym, for authorised re-identification; None if erased
    or unknown. Scans the (small) key table: there is deliberately no reverse index."""
    from .models import SubjectKey

    for subject, key in SubjectKey.objects.filter(key__isnull=False, subject__startswith="user:").values_list("subject", "key").iterator():
        if PREFIX + hmac.new(bytes(key), f"actor\x00{subject}".encode(), hashlib.sha256).hexdigest()[:32] == ref:
            return subject
    return None
