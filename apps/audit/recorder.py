from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, models
from django.utils import timezone

from apps.core import context, sql

from . import pseudonyms


class AuditOutsideTransaction(RuntimeError):
    """An audit event must share its change's transaction; otherwise either may be lost alone."""


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, models.Model):
        return value.pk
    return str(value)


# Never copied into the ledger, whatever the model.
_SECRET_FIELDS = {"password", "digest"}


def snapshot(obj: models.Model | None, m2m: Iterable[str] = ()) -> dict | None:
    """A JSON-safe picture of an object's concrete fields (FKs as ids), for before/after."""
    if obj is None:
        return None
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in _SECRET_FIELDS:
            continue
        data[field.attname] = _jsonable(getattr(obj, field.attname))
    for name in m2m:
        data[name] = sorted(_jsonable(pk) for pk in getattr(obj, name).values_list("pk", flat=True))
    return data


def record(
    action: str,
    obj: models.Model | None = None,
    **kwargs: Any,
):
    """Append one audit event in the caller's transaction and return it.

    ``action`` is a dotted verb (``catalog.dataset.create``). The actor and request id come from
    the current context (middleware, task or command) unless given. Inserts take no lock: the
    sequencer (``sequencer.py``) later gives the event its place in the signed Merkle tree.
    """
    from .models import AuditEvent

    row = prepare(action, obj, **kwargs)
    # One prepared statement, not the ORM's save machinery: every audited write in govhub pays for
    # this insert, and the ORM path cost three times the statement itself (docs/evidence.md).
    text, params = insert_sql(row)
    with connection.wrap_database_errors:
        pk, txid = sql.rows(f"{text} RETURNING id, txid", params, binary=False, prepare=True)[0]
    return AuditEvent(pk=pk, txid=txid, **row)


_JSON_COLUMNS = frozenset({"before", "after", "extra", "pseudonyms"})


def insert_sql(row: dict[str, Any], *, source: str | None = None) -> tuple[str, list[Any]]:
    """``INSERT INTO audit_auditevent …`` for a row from ``prepare``. With ``source``, an
    ``INSERT … SELECT … FROM source``: lets one statement write a change and its audit event
    together, the event exactly when the change happened (``source`` is a CTE that yields the
    changed row, or nothing)."""
    from .models import AuditEvent

    columns = [AuditEvent._meta.get_field(name).column for name in row]
    values = ", ".join("%s::jsonb" if name in _JSON_COLUMNS else "%s" for name in row)
    params = [(None if value is None else sql.jsonb(value)) if name in _JSON_COLUMNS else value for name, value in row.items()]
    tail = f"SELECT {values} FROM {source}" if source else f"VALUES ({values})"  # noqa: S608 - placeholders only
    return f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(columns)}) {tail}", params  # noqa: S608 - names from model metadata; values bound


def prepare(
    action: str,
    obj: models.Model | None = None,
    *,
    before: dict | None = None,
    after: dict | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    object_repr: str | None = None,
    project_id: int | None = None,
    extra: dict | None = None,
    actor: context.Actor | None = None,
) -> dict[str, Any]:
    """The row ``record`` inserts (field name → value): the one place an audit event is built."""
    from apps.core.permissions import object_project

    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(f"audit.record({action!r}) called outside a transaction")
    actor = actor or context.current_actor()
    if obj is not None:
        object_type = object_type or obj._meta.concrete_model._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
        object_repr = object_repr if object_repr is not None else str(obj)
        if project_id is None:
            try:
                project_id = object_project(obj)
            except AttributeError:
                project_id = None
    before, after, extra = _jsonable(before), _jsonable(after), _jsonable(extra or {})
    object_type = object_type or ""
    object_id = str(object_id if object_id is not None else "")
    object_repr = (object_repr or "")[:300]
    # Personal values enter the Merkle leaf only as keyed pseudonyms (pseudonyms.py).
    refs = pseudonyms.compute(actor_kind=actor.kind, actor_id=actor.user_id, object_type=object_type, object_id=object_id,
                              object_repr=object_repr, before=before, after=after, extra=extra)
    return dict(
        occurred_at=timezone.now(),
        actor_id=actor.user_id,
        actor_label=actor.label[:200],
        actor_kind=actor.kind,
        request_id=context.current_request_id(),
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        project_id=project_id,
        before=before,
        after=after,
        extra=extra,
        pseudonyms=refs,
    )
