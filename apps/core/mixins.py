"""The one view mixin for the web UI: the same restriction and permission rules as the API."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied

from .permissions import has_perm, object_project, perm_model, perm_name


class RestrictedViewMixin(LoginRequiredMixin):
    """List/detail views see only what the user's roles allow (``permission_action``, default
    view); views that change an object check the action against the object's project."""

    permission_action: str = "view"
    model: Any = None
    queryset: Any = None

    def base_queryset(self):
        if self.queryset is not None:
            return self.queryset.all()
        return self.model._default_manager.all()

    def get_queryset(self):
        return self.base_queryset().restrict(self.request.user, "view")

    def perm(self, action: str) -> str:
        model = self.model or self.queryset.model
        return perm_name(perm_model(model), action)

    def get_object(self, queryset=None):
        obj = super().get_object(queryset)  # type: ignore[misc]
        if self.permission_action != "view" and not has_perm(self.request.user, self.perm(self.permission_action), object_project(obj)):
            raise PermissionDenied("Your role does not allow this change.")
        return obj

    def require(self, action: str, project: Any = None) -> None:
        if not has_perm(self.request.user, self.perm(action), project):
            raise PermissionDenied(f"Your role does not allow {action} here.")

    def can(self, action: str, obj: Any = None, project: Any = None) -> bool:
        if obj is not None:
            project = object_project(obj)
        return has_perm(self.request.user, self.perm(action), project)
