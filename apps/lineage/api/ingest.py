"""``POST /api/v1/lineage`` and ``/api/v1/lineage/batch``: where the official OpenLineage clients post."""

from __future__ import annotations

import time
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Project
from apps.core.api.errors import error_response
from apps.core.permissions import has_perm

from ..services.ingest import Outcome, ingest
from .parsers import AnyJSONParser, OpenLineageParser

ADD_EVENT = "lineage.add_event"
MAX_BATCH = 10_000


_SLUGS: dict[int, tuple[float, str]] = {}


def _slug(project_id: int) -> str:
    """Project slugs for responses and messages, cached a minute (a renamed slug shows late)."""
    cached = _SLUGS.get(project_id)
    if cached and time.monotonic() - cached[0] < 60:
        return cached[1]
    slug = Project.objects.filter(pk=project_id).values_list("slug", flat=True).first() or ""
    _SLUGS[project_id] = (time.monotonic(), slug)
    return slug


def target_project(request: Any) -> tuple[int, str]:
    """(project id, slug): a token writes into its service account's project; a person names one
    with ``?project=<slug>``."""
    user = request.user
    wanted = request.query_params.get("project")
    if getattr(user, "service_project_id", None):
        project_id = user.service_project_id
        slug = _slug(project_id)
        if wanted and wanted != slug:
            raise exceptions.ValidationError({"project": f"This token writes into project {slug} only."})
    else:
        if not wanted:
            raise exceptions.ValidationError({"project": "Name the project to write into: ?project=<slug>."})
        project = Project.objects.restrict(user, "view").filter(slug=wanted).only("pk", "slug").first()
        if project is None:
            raise exceptions.NotFound(f"No project {wanted!r} that you may see.")
        project_id, slug = project.pk, project.slug
    if not has_perm(user, ADD_EVENT, project_id):
        raise exceptions.PermissionDenied(f"Your role does not allow writing lineage into project {slug}.")
    return project_id, slug


class _IngestView(APIView):
    parser_classes = [OpenLineageParser, AnyJSONParser]


class LineageView(_IngestView):
    """One OpenLineage event (RunEvent, DatasetEvent or JobEvent); gzip accepted. 201 when stored,
    200 when the same event was stored before (nothing changes), 400 with field paths when invalid."""

    @extend_schema(request={"application/json": dict}, responses={201: dict, 200: dict, 400: OpenApiResponse(description="invalid")},
                   operation_id="lineage_ingest")
    def post(self, request: Any) -> Response:
        project_id, slug = target_project(request)
        payload = request.data
        if isinstance(payload, list):
            raise exceptions.ValidationError({"non_field_errors": ["Post one event here; arrays go to /api/v1/lineage/batch."]})
        outcome = ingest([payload], user=request.user, project_id=project_id, project_slug=slug)[0]
        if outcome.status == "failed":
            if outcome.forbidden:
                raise exceptions.PermissionDenied(outcome.reason)
            raise exceptions.ValidationError(outcome.fields)
        body = {"id": outcome.raw_id, "status": outcome.status, "project": slug, "warnings": outcome.warnings}
        return Response(body, status=status.HTTP_201_CREATED if outcome.status == "created" else status.HTTP_200_OK)


def batch_summary(outcomes: list[Outcome]) -> dict[str, Any]:
    failed = [o for o in outcomes if not o.ok]
    return {
        "status": "success" if not failed else "partial_success",
        "summary": {"received": len(outcomes), "successful": len(outcomes) - len(failed), "failed": len(failed),
                    "retriable": 0, "non_retriable": len(failed),
                    "created": sum(o.status == "created" for o in outcomes),
                    "duplicates": sum(o.status == "duplicate" for o in outcomes)},
        "failed_events": [{"index": o.index, "reason": o.reason, "retriable": False, "fields": o.fields} for o in failed],
        "warnings": [{"index": o.index, "warnings": o.warnings} for o in outcomes if o.warnings],
    }


class LineageBatchView(_IngestView):
    """A JSON array of events (OpenLineage HTTP spec ``/lineage/batch``): good events are stored, bad
    ones listed by index with the reason; 200 with the success / partial-success summary."""

    @extend_schema(request={"application/json": {"type": "array", "items": {"type": "object", "additionalProperties": True}}},
                   responses={200: dict}, operation_id="lineage_ingest_batch")
    def post(self, request: Any) -> Response:
        project_id, slug = target_project(request)
        payload = request.data
        if not isinstance(payload, list):
            raise exceptions.ValidationError({"non_field_errors": ["The batch body must be a JSON array of events."]})
        if len(payload) > MAX_BATCH:
            return error_response(413, "payload_too_large", f"At most {MAX_BATCH} events per batch.")
        outcomes = ingest(payload, user=request.user, project_id=project_id, project_slug=slug) if payload else []
        return Response(batch_summary(outcomes), status=status.HTTP_200_OK)
