"""The one base viewset: every API queryset is restricted by role and project here, every write
is permission-checked here and handed to a service function."""

from __future__ import annotations

from typing import Any

from django.db import models
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.response import Response

from apps.core.permissions import has_perm, perm_model, perm_name
from apps.core.services import etag_for


class RestrictedViewSetMixin:
    queryset: models.QuerySet
    #: The project a new object will belong to, from validated data (None: global data).
    create_project_field: str | None = "project"

    def get_queryset(self):
        qs = super().get_queryset()  # type: ignore[misc]
        return self.optimize_queryset(qs.restrict(self.request.user, "view"))

    def optimize_queryset(self, qs):
        return qs

    def filter_queryset(self, queryset):
        # List filters and ordering describe collections; a detail or write request addresses
        # one object by id, so building and validating a FilterSet there is wasted work.
        if getattr(self, "action", None) not in ("list", None):
            return queryset
        return super().filter_queryset(queryset)  # type: ignore[misc]

    def perm(self, action: str) -> str:
        return perm_name(perm_model(self.queryset.model), action)

    def check_create_permission(self, validated: dict[str, Any]) -> None:
        project = None
        if self.create_project_field:
            project = validated
            for hop in self.create_project_field.split("."):
                project = project.get(hop) if isinstance(project, dict) else getattr(project, hop, None)
        if not has_perm(self.request.user, self.perm("add"), project):
            where = f" in project {project}" if project is not None else ""
            raise exceptions.PermissionDenied(f"Your role does not allow adding {self.queryset.model._meta.verbose_name_plural}{where}.")


class RestrictedModelViewSet(RestrictedViewSetMixin, viewsets.ModelViewSet):
    """CRUD through services, ETag on reads, If-Match (→ 412) on writes."""

    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    # Subclasses implement these three with the domain's service functions.
    def service_create(self, data: dict[str, Any]):  # pragma: no cover - abstract
        raise NotImplementedError

    def service_update(self, obj, data: dict[str, Any], if_match: str | None):  # pragma: no cover
        raise NotImplementedError

    def service_delete(self, obj, if_match: str | None) -> None:  # pragma: no cover
        raise NotImplementedError

    def if_match(self) -> str | None:
        return self.request.headers.get("If-Match")

    def retrieve(self, request, *args, **kwargs):
        obj = self.get_object()
        etag = etag_for(obj)
        if request.headers.get("If-None-Match") == etag:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        return Response(self.get_serializer(obj).data, headers={"ETag": etag})

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.check_create_permission(serializer.validated_data)
        obj = self.service_create(dict(serializer.validated_data))
        obj = self.get_queryset().get(pk=obj.pk)
        data = self.get_serializer(obj).data
        return Response(data, status=status.HTTP_201_CREATED, headers={"ETag": etag_for(obj)})

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        obj = self.get_object()
        serializer = self.get_serializer(obj, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        if self.create_project_field and "project" in serializer.validated_data:
            new_project = serializer.validated_data["project"]
            if new_project.pk != obj.project_id and not has_perm(request.user, self.perm("add"), new_project):
                raise exceptions.PermissionDenied(f"Your role does not allow moving this into project {new_project}.")
        obj = self.service_update(obj, dict(serializer.validated_data), self.if_match())
        obj = self.get_queryset().get(pk=obj.pk)
        return Response(self.get_serializer(obj).data, headers={"ETag": etag_for(obj)})

    def destroy(self, request, *args, **kwargs):
        obj = self.get_object()
        self.service_delete(obj, self.if_match())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RestrictedReadOnlyViewSet(RestrictedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


__all__ = ["RestrictedModelViewSet", "RestrictedReadOnlyViewSet", "RestrictedViewSetMixin", "mixins"]
