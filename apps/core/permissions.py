"""Permission enforcement in one place (NetBox's RestrictedQuerySet idea).

Every queryset shown to a user goes through ``RestrictedQuerySet.restrict(user, action)``; every
write checks ``has_perm(user, perm, project)``. The DRF permission class and the UI view mixin both
call these, so no view decides access on its own.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import permissions as drf_permissions

from .roles import Role, role_grants

ALL = "__all__"


def _role_cache(user: Any) -> tuple[str | None, dict[int, str]]:
    """(org-wide role, {project_id: role}) for a user, cached on the user object per request."""
    cached = getattr(user, "_govhub_roles", None)
    if cached is None:
        memberships: dict[int, str] = {}
        if getattr(user, "pk", None) is not None:
            from apps.accounts.models import Membership

            memberships = dict(Membership.objects.filter(user_id=user.pk).order_by().values_list("project_id", "role"))
        cached = prime_role_cache(user, memberships)
    return cached


def prime_role_cache(user: Any, memberships: dict[int, str]) -> tuple[str | None, dict[int, str]]:
    """Cache the user's roles for this request from memberships already read (token
    authentication reads them with the token, in one query)."""
    org_role = getattr(user, "org_role", None) or None
    if getattr(user, "is_superuser", False):
        org_role = Role.ADMINISTRATOR
    user._govhub_roles = (org_role, memberships)
    return user._govhub_roles


def reset_cache(user: Any) -> None:
    if hasattr(user, "_govhub_roles"):
        del user._govhub_roles


def token_allows(user: Any, perm: str) -> bool:
    """A read-scoped API token never writes, whatever the account's role."""
    scope = getattr(user, "_govhub_token_scope", None)
    if scope == "read":
        action = perm.partition(".")[2].split("_", 1)[0]
        return action == "view"
    return True


def is_active_user(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def has_perm(user: Any, perm: str, project: Any = None) -> bool:
    """May ``user`` do ``perm`` in ``project`` (a Project, an id, or None for global data)?"""
    if not is_active_user(user) or not token_allows(user, perm):
        return False
    org_role, memberships = _role_cache(user)
    if org_role and role_grants(org_role, perm):
        return True
    if project is None:
        return False
    project_id = getattr(project, "pk", project)
    role = memberships.get(project_id)
    return bool(role and role_grants(role, perm))


def projects_with_perm(user: Any, perm: str) -> str | set[int]:
    """``ALL`` or the set of project ids where ``user`` holds ``perm``."""
    if not is_active_user(user) or not token_allows(user, perm):
        return set()
    org_role, memberships = _role_cache(user)
    if org_role and role_grants(org_role, perm):
        return ALL
    return {pid for pid, role in memberships.items() if role_grants(role, perm)}


def perm_name(model: type[models.Model], action: str) -> str:
    meta = model._meta
    return f"{meta.app_label}.{action}_{meta.model_name}"


def perm_model(model: type[models.Model]) -> type[models.Model]:
    """Proxies (Dataset, Model, FineTune) share their concrete model's permissions."""
    return model._meta.concrete_model if model._meta.proxy else model


class RestrictedQuerySet(models.QuerySet):
    """A queryset that can cut itself down to what a user may see or change.

    Models name the path to their project in ``project_field`` (``None`` for global reference
    data, readable by every signed-in user and writable only by org-wide roles).
    """

    def restrict(self, user: Any, action: str = "view") -> "RestrictedQuerySet":
        model = perm_model(self.model)
        project_field: str | None = getattr(model, "project_field", "project")
        perm = perm_name(model, action)
        if project_field is None:
            if action == "view":
                return self if is_active_user(user) and token_allows(user, perm) else self.none()
            return self if has_perm(user, perm) else self.none()
        allowed = projects_with_perm(user, perm)
        if allowed == ALL:
            return self
        if not allowed:
            return self.none()
        return self.filter(**{f"{project_field}__in": allowed})


def object_project(obj: Any) -> int | None:
    """The id of the project an object belongs to, following the model's ``project_field``."""
    path = getattr(type(obj), "project_field", "project")
    if path is None:
        return None
    if path == "pk":
        return obj.pk
    *hops, last = path.split("__")
    target = obj
    for hop in hops:
        target = getattr(target, hop)
    # A plain integer column (e.g. the audit ledger's project_id) or a foreign key's id.
    return getattr(target, last if last.endswith("_id") else f"{last}_id")


class RolePermission(drf_permissions.BasePermission):
    """DRF side of the single enforcement point: authenticated, scope-checked, role-checked."""

    _ACTIONS = {"GET": "view", "HEAD": "view", "OPTIONS": "view", "POST": "add",
                "PUT": "change", "PATCH": "change", "DELETE": "delete"}

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not is_active_user(user):
            return False
        # DRF authenticates inside the view, after the middleware; this is the first point where
        # the API user is known, so the audit actor is set here (token auth sets a richer label).
        from . import context

        if context.current_actor().user_id != user.pk:
            context.set_actor(context.Actor.for_user(user))
        if getattr(view, "skip_role_permission", False):
            return True
        if request.method not in drf_permissions.SAFE_METHODS and getattr(user, "_govhub_token_scope", None) == "read":
            return False
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        if getattr(view, "skip_role_permission", False):
            return True
        action = getattr(view, "object_action_map", {}).get(view.action) or self._ACTIONS.get(request.method, "change")
        perm = view.perm(action) if hasattr(view, "perm") else perm_name(perm_model(type(obj)), action)
        return has_perm(request.user, perm, object_project(obj))
