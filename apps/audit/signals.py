"""Sign-ins are audit events too (GDPR Art. 32 / AI Act Art. 12 logging): successful and failed
logins are recorded in their own transaction, with the attempted name pseudonymised."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from apps.core import context

ANONYMOUS = context.Actor(user_id=None, label="anonymous", kind="anonymous")


def _method(request: Any) -> str:
    path = getattr(request, "path", "") or ""
    return "admin" if path.startswith("/admin/") else "web" if path else "other"


@receiver(user_logged_in, dispatch_uid="govhub_audit_login")
def record_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    from apps import audit

    with transaction.atomic():
        audit.record("accounts.user.login", user, actor=context.Actor.for_user(user), extra={"method": _method(request)})


@receiver(user_login_failed, dispatch_uid="govhub_audit_login_failed")
def record_login_failure(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    from apps import audit

    username = str(credentials.get("username") or "")[:150]
    user_id = get_user_model().objects.filter(username=username).values_list("pk", flat=True).first() if username else None
    with transaction.atomic():
        audit.record("accounts.user.login_failed", object_type="accounts.user", object_id=user_id or "", object_repr="",
                     actor=ANONYMOUS, extra={"username": username, "method": _method(request)})
