"""What one audit event contributes to the Merkle tree: its leaf.

A leaf is the RFC 8785 canonical JSON of ``{"event": {...}, "log_index": n}``. Putting the index
inside the leaf binds each event to its position, and because ``"log_index"`` sorts after
``"event"`` every leaf line ends in ``,"log_index":n}`` (the offline verifier reads indices without
parsing JSON). The event part carries every column of the row except personal values, which
enter as keyed pseudonyms (``pseudonyms.py``). The same bytes are hashed by the sequencer,
recomputed by ``audit_verify`` and written as lines of an export's ``events.jsonl``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from . import canonical

LEAF_VERSION = 1

# The columns a leaf is built from, in this order (``SELECT_COLUMNS`` selects them as ``e.*``;
# the time already formatted by the database, the way ``timestamp`` formats it).
EVENT_COLUMNS = ("id", "occurred_at", "actor_kind", "actor_label", "request_id", "action", "object_type",
                 "object_id", "object_repr", "project_id", "before", "after", "extra", "pseudonyms")
SELECT_COLUMNS = ", ".join(
    """to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""" if c == "occurred_at" else f"e.{c}"
    for c in EVENT_COLUMNS
)
_UNSAFE_NUMBER = re.compile(r"[0-9]{16}")  # an integer that may exceed 2**53 (or a long digit run in a string)


class _Unsafe(Exception):
    pass


def _float(text: str) -> float:
    raise _Unsafe


_SAFE_DECODER = json.JSONDecoder(parse_float=_float)
_DECODER = json.JSONDecoder()


def _json(value: Any) -> tuple[Any, bool]:
    """(decoded value, whether the fast canonical encoder provably applies to it). Django's psycopg
    connection hands jsonb over as text: ASCII text without floats or long integers is safe."""
    if value is None:
        return None, True
    if not isinstance(value, str):
        return value, False
    if value.isascii() and not _UNSAFE_NUMBER.search(value):
        try:
            return _SAFE_DECODER.raw_decode(value)[0], True  # jsonb text: no surrounding whitespace
        except _Unsafe:
            pass
    return _DECODER.decode(value), False


def timestamp(value: dt.datetime | str) -> str:
    if isinstance(value, str):
        return value
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def leaf_event(row: Sequence[Any]) -> dict[str, Any]:
    return _leaf_event(row)[0]


def _leaf_event(row: Sequence[Any]) -> tuple[dict[str, Any], bool]:
    (event_id, occurred_at, actor_kind, actor_label, request_id, action, object_type, object_id, object_repr,
     project_id, before, after, extra, pseudonyms) = row
    (before, ok1), (after, ok2), (extra, ok3), (refs_json, ok4) = _json(before), _json(after), _json(extra), _json(pseudonyms)
    refs = {path: pair[1] for path, pair in (refs_json or {}).items()}
    if "actor" in refs:
        actor = {"kind": actor_kind, "ref": refs["actor"]}
    else:
        actor = {"kind": actor_kind, "label": actor_label}
    sections = {"before": before, "after": after, "extra": extra}
    for path, ref in refs.items():
        section, _, name = path.partition(".")
        if name and isinstance(sections.get(section), dict):
            sections[section] = {**sections[section], name: ref}
    event = {
        "v": LEAF_VERSION,
        "event_id": event_id,
        "occurred_at": timestamp(occurred_at),
        "actor": actor,
        "request_id": request_id,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": refs.get("object_repr", object_repr),
        "project_id": project_id,
        "before": sections["before"],
        "after": sections["after"],
        "extra": sections["extra"],
    }
    safe = ok1 and ok2 and ok3 and ok4 and all(
        v is None or (type(v) is int and -canonical.MAX_SAFE <= v <= canonical.MAX_SAFE) for v in (event_id, project_id))
    return event, safe


def leaf_bytes(row: Sequence[Any], log_index: int) -> bytes:
    event, safe = _leaf_event(row)
    leaf = {"event": event, "log_index": log_index}
    # Safe payloads skip the scan: only ASCII keys, no floats, no long integers (canonical.py).
    return canonical.encode_safe(leaf) if safe else canonical.dumps(leaf)


def leaf_hash_of(row: Sequence[Any], log_index: int) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_bytes(row, log_index)).digest()
