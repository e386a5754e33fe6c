from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest

from apps.core.roles import Role


def role_summary(user: Any) -> str:
    """"Compliance officer (organisation)" or "Data steward in health" for the user menu."""
    if getattr(user, "is_superuser", False):
        return "Administrator (organisation)"
    if getattr(user, "org_role", ""):
        return f"{Role(user.org_role).label} (organisation)"
    try:
        rows = list(user.memberships.select_related("project").order_by("project__slug")[:3])
    except DatabaseError:  # the error page must render even when the database is down
        return ""
    if not rows:
        return "No project role"
    first = f"{rows[0].get_role_display()} in {rows[0].project.slug}"
    return first if len(rows) == 1 else f"{first} and more"


def govhub(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    ctx: dict[str, Any] = {"GOVHUB_ENV": settings.GOVHUB_ENV}
    if user is not None and user.is_authenticated:
        # A callable: the template evaluates it only where the menu is rendered.
        ctx["role_summary"] = lambda: role_summary(user)

        def may_export() -> bool:
            from apps.evidence.services import may_export as check

            return check(user)

        ctx["may_export_evidence"] = may_export  # the Evidence nav entry only for those it serves
    return ctx
