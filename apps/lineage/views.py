"""Lineage pages: jobs and their run history, a run, a dataset's column lineage."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.views.generic import DetailView, ListView

from apps.catalog.models import Asset
from apps.core.mixins import RestrictedViewMixin

from .models import Job, Run, RunIO
from .presenters import column_lineage

PAGE_SIZE = 25


class JobListView(RestrictedViewMixin, ListView):
    model = Job
    template_name = "lineage/job_list.html"
    context_object_name = "jobs"
    paginate_by = PAGE_SIZE

    def get_queryset(self):
        return super().get_queryset().select_related("project").order_by("namespace", "name")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "page_title": "Lineage jobs", "section": "lineage"}


class JobDetailView(RestrictedViewMixin, DetailView):
    """A job, its run history (newest first, 25 a page) and its place in the graph."""

    model = Job
    template_name = "lineage/job_detail.html"
    context_object_name = "job"

    def get_queryset(self):
        return super().get_queryset().select_related("project")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        runs = Run.objects.filter(job=self.object).order_by("-id")
        page = Paginator(runs, PAGE_SIZE).get_page(self.request.GET.get("page"))
        ctx.update(page_obj=page, runs=page.object_list, page_title=str(self.object), section="lineage",
                   graph_root=f"job:{self.object.pk}")
        return ctx


class RunDetailView(RestrictedViewMixin, DetailView):
    model = Run
    template_name = "lineage/run_detail.html"
    context_object_name = "run"

    def get_queryset(self):
        return super().get_queryset().select_related("job", "job__project")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        io = list(RunIO.objects.filter(run=self.object).values_list("asset_id", "direction"))
        assets = {a.pk: a for a in Asset.objects.restrict(self.request.user, "view").filter(pk__in=[a for a, _ in io])}
        ctx.update(
            transitions=self.object.transitions.order_by("event_time", "id"),
            inputs=[assets[a] for a, d in io if d == "in" and a in assets],
            outputs=[assets[a] for a, d in io if d == "out" and a in assets],
            hidden=sum(1 for a, _ in io if a not in assets),
            page_title=f"Run {self.object.run_uuid}", section="lineage", graph_root=f"run:{self.object.run_uuid}",
        )
        return ctx


class ColumnLineageView(RestrictedViewMixin, DetailView):
    """A dataset's columns, where each comes from and where it goes (transformation, masking)."""

    model = Asset
    template_name = "lineage/columns.html"
    context_object_name = "asset"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(lineage=column_lineage(self.request.user, self.object), page_title=f"Columns of {self.object.name}",
                   section="datasets" if self.object.kind == "dataset" else "models")
        return ctx
