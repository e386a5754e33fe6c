"""Canonical JSON (RFC 8785, JCS) for ledger leaves.

``rfc8785`` is the reference implementation. Most audit payloads hold only strings, small integers,
booleans and nulls under ASCII keys; for those, RFC 8785 output is byte-for-byte what the C
``json`` encoder writes with sorted keys, no whitespace and no ASCII escaping, which is about
three times faster. ``dumps`` takes that path only when it provably applies (no floats, ASCII keys,
integers within the I-JSON range) and falls back to ``rfc8785`` otherwise; a test compares both
on randomised documents.

Integers outside ±(2**53 - 1) cannot be represented in I-JSON; they are written as decimal
strings (deterministically, so sequencing, verification and export agree).
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

MAX_SAFE = 2**53 - 1
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def _scan(value: Any) -> int:
    """0: fast path applies; 1: needs rfc8785; 2: needs big integers turned into strings."""
    t = type(value)
    if t is str or t is bool or value is None:
        return 0
    if t is int:
        return 0 if -MAX_SAFE <= value <= MAX_SAFE else 2
    if t is dict:
        worst = 0
        for k, v in value.items():
            if type(k) is not str or not k.isascii():
                worst = max(worst, 1)
            worst = max(worst, _scan(v))
            if worst == 2:
                return 2
        return worst
    if t is list or t is tuple:
        worst = 0
        for v in value:
            worst = max(worst, _scan(v))
            if worst == 2:
                return 2
        return worst
    return 1  # floats and anything else: the reference implementation decides


def _safe_ints(value: Any) -> Any:
    if type(value) is int and not -MAX_SAFE <= value <= MAX_SAFE:
        return str(value)
    if isinstance(value, dict):
        return {k: _safe_ints(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe_ints(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """RFC 8785 canonical UTF-8 bytes of a JSON value."""
    kind = _scan(value)
    if kind == 0:
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: let the reference implementation refuse them
            pass
    if kind == 2:
        value = _safe_ints(value)
    return rfc8785.dumps(value)


def encode_safe(value: Any) -> bytes:
    """The fast encoder alone, for values the caller has already proven safe (see ``_scan``)."""
    try:
        return _encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return rfc8785.dumps(value)


def reference_dumps(value: Any) -> bytes:
    """Always the reference implementation (tests compare ``dumps`` against it)."""
    return rfc8785.dumps(_safe_ints(value))
