"""Evidence exports over the API: request one (202-style: the bundle is built by a task), watch
its progress, download it. Only holders of ``audit.export`` (or the requester) see exports."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from apps.accounts.models import Project
from apps.catalog.models import Asset
from apps.core.api.fields import RestrictedRelatedFieldsMixin

from .. import services
from ..models import Export


class ExportSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "state", "phase", "rows_total", "rows_done", "percent", "requested_at", "requested_label", "since",
                  "until", "project", "asset", "pin_size", "started_at", "finished_at", "error", "tree_size", "root_hash",
                  "events_in_scope", "file_size", "sha256", "manifest_sha256", "download_url"]
        read_only_fields = fields

    def get_download_url(self, obj: Export) -> str | None:
        if obj.state != "done":
            return None
        request = self.context.get("request")
        path = f"/api/v1/evidence/exports/{obj.pk}/download"
        return request.build_absolute_uri(path) if request else path


class ExportRequestSerializer(RestrictedRelatedFieldsMixin, serializers.Serializer):
    restricted_fields = {"project": "view", "asset": "view"}
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(required=False, allow_null=True)
    project = serializers.PrimaryKeyRelatedField(queryset=Project.objects.all(), required=False, allow_null=True)
    asset = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.all(), required=False, allow_null=True)
    pin_size = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class ZipRenderer(BaseRenderer):
    """Lets ``Accept: application/zip`` reach the download (errors still render as JSON)."""

    media_type = "application/zip"
    format = "zip"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ExportSerializer
    queryset = Export.objects.all()
    skip_role_permission = True  # access is decided by services.visible_exports / may_export

    def get_queryset(self):
        return services.visible_exports(self.request.user)

    def get_serializer_class(self):
        return ExportRequestSerializer if self.action == "create" else ExportSerializer

    def create(self, request, *args, **kwargs):
        if not services.may_export(request.user):
            raise exceptions.PermissionDenied("Your role does not allow evidence exports.")
        data = ExportRequestSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            export = services.request_export(request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
        return Response(ExportSerializer(export, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, ZipRenderer])
    def download(self, request, pk=None):
        export = self.get_object()
        try:
            path = services.record_download(export)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"non_field_errors": exc.messages})
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name, content_type="application/zip")
