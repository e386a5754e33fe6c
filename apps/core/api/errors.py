"""One JSON error shape for every API failure, with field paths:

    {"error": {"status": 400, "code": "invalid", "detail": "…",
               "fields": {"inputs[2].namespace": ["This field is required."]}}}
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from apps.core.services import PreconditionFailed


def flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested DRF error structures → {"a.b[0].c": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            key = str(key)
            path = key if not prefix else (f"{prefix}.{key}" if key != "non_field_errors" else prefix)
            if not prefix and key == "non_field_errors":
                path = "non_field_errors"
            for k, v in flatten(value, path).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(errors, list):
        if all(not isinstance(e, (dict, list)) for e in errors):
            out.setdefault(prefix or "non_field_errors", []).extend(str(e) for e in errors)
        else:
            for i, item in enumerate(errors):
                if item in ({}, [], None):
                    continue
                for k, v in flatten(item, f"{prefix}[{i}]").items():
                    out.setdefault(k, []).extend(v)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(errors))
    return out


def django_validation_to_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError({k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()})
    return exceptions.ValidationError({"non_field_errors": exc.messages})


def error_response(status_code: int, code: str, detail: str, fields: dict | None = None, headers: dict | None = None) -> Response:
    body: dict[str, Any] = {"status": status_code, "code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=status_code, headers=headers)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_to_drf(exc)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PreconditionFailed):
        return error_response(412, "precondition_failed", str(exc), headers={"ETag": exc.current_etag})
    if isinstance(exc, ProtectedError):
        names = sorted({str(o) for o in list(exc.protected_objects)[:5]})
        return error_response(409, "protected", f"Other records depend on this one: {', '.join(names)}.")
    if isinstance(exc, IntegrityError):
        return error_response(409, "conflict", "The change conflicts with existing data (a duplicate or a broken reference).")
    response = drf_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        first = next(iter(fields.items()))
        detail = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        return error_response(response.status_code, "invalid", detail, fields, headers=dict(response.items()))
    detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if isinstance(code, (dict, list)):
        code = "error"
    return error_response(response.status_code, str(code), str(detail), headers=dict(response.items()))


__all__ = ["exception_handler", "flatten", "error_response", "status"]
