"""Read API: jobs, runs, raw events, the graph, impact, constraints, columns."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.catalog.models import Asset
from apps.core.api.viewsets import RestrictedReadOnlyViewSet

from .. import constraints, graph, queries
from ..models import DatasetField, Job, RawEvent, Run, RunIO
from ..presenters import column_lineage, constraints_payload
from . import serializers as s


def int_param(request: Any, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise exceptions.ValidationError({name: "Must be a whole number."}) from None
    if not low <= value <= high:
        raise exceptions.ValidationError({name: f"Between {low} and {high}."})
    return value


class JobViewSet(RestrictedReadOnlyViewSet):
    """Jobs seen in lineage (scheduler namespace + name, per project)."""

    queryset = Job.objects.all()
    serializer_class = s.JobSerializer
    filterset_fields = ["namespace", "name"]
    ordering_fields = ["id", "name", "namespace", "updated_at"]

    def optimize_queryset(self, qs):
        return qs.select_related("project")

    @extend_schema(responses=s.RunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request: Any, pk: str | None = None) -> Response:
        """The job's runs, newest first (cursor-paginated)."""
        job = self.get_object()
        qs = Run.objects.filter(job=job).select_related("job").order_by("-id")
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.RunSerializer(page, many=True).data)


class RunViewSet(RestrictedReadOnlyViewSet):
    queryset = Run.objects.all()
    serializer_class = s.RunSerializer
    filterset_fields = ["state", "job"]
    ordering_fields = ["id", "started_at", "ended_at"]

    def optimize_queryset(self, qs):
        qs = qs.select_related("job")
        if self.action == "retrieve":
            qs = qs.prefetch_related("transitions", Prefetch("io", queryset=RunIO.objects.only("run_id", "asset_id", "direction")))
        return qs

    def get_serializer_class(self):
        return s.RunDetailSerializer if self.action == "retrieve" else s.RunSerializer


class RawEventViewSet(RestrictedReadOnlyViewSet):
    """Every accepted event as received (the payload in the detail view)."""

    queryset = RawEvent.objects.all()
    serializer_class = s.RawEventSerializer
    filterset_fields = ["kind", "event_type", "run_uuid"]
    ordering_fields = ["id", "event_time"]

    def optimize_queryset(self, qs):
        qs = qs.select_related("project")
        return qs if self.action == "retrieve" else qs.defer("payload")

    def get_serializer_class(self):
        return s.RawEventDetailSerializer if self.action == "retrieve" else s.RawEventSerializer


NODE = OpenApiParameter("node", str, description="asset:<id> (or dataset:/model:/fine_tune:), job:<id>, run:<uuid>, column:<id>", required=True)


class GraphView(APIView):
    """Upstream, downstream or both from any node, to a depth, a page of nodes at a time (ordered by
    depth). Nodes you may not see are left out; paths through them become ``indirect`` edges."""

    @extend_schema(parameters=[NODE, OpenApiParameter("direction", str, enum=["upstream", "downstream", "both"]),
                               OpenApiParameter("depth", int), OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
                   responses={200: dict}, operation_id="lineage_graph")
    def get(self, request: Any) -> Response:
        return Response(queries.neighbourhood(
            request.user, request.query_params.get("node", ""), request.query_params.get("direction", "both"),
            depth=int_param(request, "depth", 3, 1, graph.MAX_DEPTH), limit=int_param(request, "limit", 200, 1, 2000),
            offset=int_param(request, "offset", 0, 0, 10_000_000),
        ))


class ImpactView(APIView):
    """Everything downstream of an asset, grouped: datasets, models, fine-tunes, jobs."""

    @extend_schema(parameters=[OpenApiParameter("depth", int), OpenApiParameter("limit", int)], responses={200: dict},
                   operation_id="lineage_impact")
    def get(self, request: Any, pk: int) -> Response:
        return Response(queries.impact(request.user, int(pk), depth=int_param(request, "depth", graph.MAX_DEPTH, 1, graph.MAX_DEPTH),
                                       limit=int_param(request, "limit", 500, 1, 10_000)))


class ConstraintsView(APIView):
    """An asset's effective constraints (jurisdictions, purposes, classification, flags), each with
    the upstream asset that imposes it."""

    @extend_schema(responses={200: dict}, operation_id="lineage_constraints")
    def get(self, request: Any, pk: int) -> Response:
        asset = get_object_or_404(Asset.objects.restrict(request.user, "view"), pk=pk)
        return Response(constraints_payload(request.user, asset, constraints.get_or_compute(asset)))


class ColumnsView(APIView):
    """A dataset's columns and their lineage (column → column, with transformation and masking)."""

    @extend_schema(responses={200: dict}, operation_id="lineage_columns")
    def get(self, request: Any, pk: int) -> Response:
        asset = get_object_or_404(Asset.objects.restrict(request.user, "view"), pk=pk)
        return Response(column_lineage(request.user, asset))


__all__ = ["ColumnsView", "ConstraintsView", "DatasetField", "GraphView", "ImpactView", "JobViewSet", "RawEventViewSet", "RunViewSet"]
