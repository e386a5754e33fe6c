"""Lineage routes, registered on the v1 router by ``govhub/api_urls.py``."""

from __future__ import annotations

from django.urls import re_path

from .ingest import LineageBatchView, LineageView
from .views import ColumnsView, ConstraintsView, GraphView, ImpactView, JobViewSet, RawEventViewSet, RunViewSet


def register(router) -> None:
    router.register("lineage/jobs", JobViewSet, basename="lineage-job")
    router.register("lineage/runs", RunViewSet, basename="lineage-run")
    router.register("lineage/events", RawEventViewSet, basename="lineage-event")


urlpatterns = [
    re_path(r"^lineage/?$", LineageView.as_view(), name="lineage-ingest"),
    re_path(r"^lineage/batch/?$", LineageBatchView.as_view(), name="lineage-ingest-batch"),
    re_path(r"^lineage/graph/?$", GraphView.as_view(), name="lineage-graph"),
    re_path(r"^lineage/impact/(?P<pk>[0-9]+)/?$", ImpactView.as_view(), name="lineage-impact"),
    re_path(r"^lineage/constraints/(?P<pk>[0-9]+)/?$", ConstraintsView.as_view(), name="lineage-constraints"),
    re_path(r"^lineage/assets/(?P<pk>[0-9]+)/columns/?$", ColumnsView.as_view(), name="lineage-api-columns"),
]
