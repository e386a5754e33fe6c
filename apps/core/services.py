"""Generic audited writes. Domain services (``apps/*/services.py``) build on these so that every
create, update and delete — from the API, the UI, the admin or a task — validates the object,
bumps its version, and records an audit event in the same transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import models, transaction

from apps import audit

M = TypeVar("M", bound=models.Model)


class PreconditionFailed(Exception):
    """The object changed since the caller read it (If-Match did not match)."""

    def __init__(self, current_etag: str):
        super().__init__("The object was changed by someone else; reload it and try again.")
        self.current_etag = current_etag


def etag_for(obj: models.Model) -> str:
    """A strong ETag: the row version where the model keeps one, else a digest of its fields."""
    if hasattr(obj, "version"):
        return f'"{obj.pk}-{obj.version}"'
    digest = hashlib.sha256(json.dumps(audit.snapshot(obj), sort_keys=True, default=str).encode()).hexdigest()
    return f'"{digest[:32]}"'


def _label(obj_or_model: Any) -> str:
    meta = obj_or_model._meta
    return (meta.concrete_model._meta if meta.proxy else meta).model_name


def create(model: type[M], fields: dict[str, Any], *, m2m: dict[str, Iterable] | None = None,
           action: str | None = None, extra: dict | None = None) -> M:
    with transaction.atomic():
        obj = model(**fields)
        obj.full_clean()
        obj.save()
        for name, values in (m2m or {}).items():
            getattr(obj, name).set(values)
        audit.record(
            action or f"{model._meta.app_label}.{_label(model)}.create", obj,
            after=audit.snapshot(obj, m2m=(m2m or {}).keys()), extra=extra,
        )
        return obj


def update(obj: M, fields: dict[str, Any], *, m2m: dict[str, Iterable] | None = None,
           if_match: str | None = None, action: str | None = None, extra: dict | None = None) -> M:
    """Apply changes under a row lock; with ``if_match``, a compare-and-swap on the ETag."""
    model = type(obj)
    with transaction.atomic():
        locked = model._base_manager.select_for_update().get(pk=obj.pk)
        if if_match is not None and if_match != "*" and if_match != etag_for(locked):
            raise PreconditionFailed(etag_for(locked))
        m2m_names = list((m2m or {}).keys())
        before = audit.snapshot(locked, m2m=m2m_names)
        for name, value in fields.items():
            setattr(locked, name, value)
        if hasattr(locked, "version"):
            locked.version = locked.version + 1
        locked.full_clean()
        locked.save()
        for name, values in (m2m or {}).items():
            getattr(locked, name).set(values)
        after = audit.snapshot(locked, m2m=m2m_names)
        audit.record(action or f"{model._meta.app_label}.{_label(model)}.update", locked,
                     before=before, after=after, extra=extra)
        return locked


def delete(obj: models.Model, *, if_match: str | None = None, action: str | None = None,
           m2m: Iterable[str] = ()) -> None:
    model = type(obj)
    with transaction.atomic():
        locked = model._base_manager.select_for_update().get(pk=obj.pk)
        if if_match is not None and if_match != "*" and if_match != etag_for(locked):
            raise PreconditionFailed(etag_for(locked))
        before = audit.snapshot(locked, m2m=m2m)
        audit.record(action or f"{model._meta.app_label}.{_label(model)}.delete", locked, before=before)
        locked.delete()
