"""Dispatch pages: clusters with their load and spend, one job's timeline and usage, and a
project's budget with its burn-down and forecast. Every query goes through ``restrict()``: usage
figures cover only the projects the viewer may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.generic import DetailView, TemplateView

from apps.accounts.models import Project
from apps.compute.models import ComputeCluster
from apps.core.mixins import RestrictedViewMixin
from apps.jobs.models import ACTIVE_ON_CLUSTER, Job, JobState

from . import charts, usage
from .models import Notification, UsageRecord

TIMELINE_LABELS = {
    JobState.SUBMITTED: "Submitted", JobState.EVALUATING: "Evaluated by policy", JobState.APPROVED: "Decided: approved",
    JobState.DENIED: "Decided: denied", JobState.AWAITING_APPROVAL: "Waiting for a person's approval",
    JobState.DISPATCHING: "Dispatch intent recorded", JobState.DISPATCHED: "Dispatched to the scheduler",
    JobState.RUNNING: "Running", JobState.CANCEL_REQUESTED: "Cancel requested", JobState.STOPPED: "Stopped (the scheduler confirmed)",
    JobState.SUCCEEDED: "Finished", JobState.FAILED: "Failed", JobState.CANCELLED: "Cancelled before dispatch",
}


def cluster_usage(user: Any, clusters: list[ComputeCluster]) -> dict[int, dict[str, Any]]:
    """Per cluster: GPUs in use and jobs running (all projects: capacity is not secret), and
    spend, GPU-hours, energy and CO₂e of the projects ``user`` may see."""
    ids = [c.pk for c in clusters]
    load = {row["cluster_id"]: row for row in Job.objects.filter(cluster_id__in=ids, state__in=ACTIVE_ON_CLUSTER).order_by()
            .values("cluster_id").annotate(gpus=Sum("gpus"), running=Count("id", filter=Q(state=JobState.RUNNING)), active=Count("id"))}
    spent = {row["cluster_id"]: row for row in UsageRecord.objects.restrict(user).filter(cluster_id__in=ids).order_by()
             .values("cluster_id").annotate(cost=Sum("cost"), gpu_hours=Sum("gpu_hours"), energy=Sum("energy_kwh"), co2e=Sum("co2e_kg"))}
    out = {}
    for cluster in clusters:
        row, money = load.get(cluster.pk, {}), spent.get(cluster.pk, {})
        in_use = row.get("gpus") or 0
        out[cluster.pk] = {
            "cluster": cluster, "gpus_in_use": in_use, "gpus_free": max(cluster.gpu_count - in_use, 0),
            "percent": round(100 * in_use / cluster.gpu_count) if cluster.gpu_count else 0,
            "running": row.get("running") or 0, "active": row.get("active") or 0,
            "cost": money.get("cost") or 0, "gpu_hours": money.get("gpu_hours") or 0, "energy_kwh": money.get("energy") or 0,
            "co2e_kg": money.get("co2e") or 0,
        }
    return out


class ClusterUsageView(RestrictedViewMixin, TemplateView):
    template_name = "dispatch/clusters.html"
    model = ComputeCluster

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        clusters = list(self.get_queryset().select_related("jurisdiction"))
        ctx.update(section="clusters", page_title="Cluster load and spend", rows=list(cluster_usage(self.request.user, clusters).values()))
        return ctx


class JobDispatchView(RestrictedViewMixin, DetailView):
    model = Job
    template_name = "dispatch/job.html"
    context_object_name = "job"

    def base_queryset(self):
        return Job.objects.select_related("project", "cluster", "requested_by")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        job = self.object
        timeline = [{"at": job.submitted_at, "state": JobState.SUBMITTED, "label": "Submitted", "reason": "",
                     "actor": job.requested_by.get_username()}]
        for t in job.transitions.all():
            timeline.append({"at": t.at, "state": t.to_state, "label": TIMELINE_LABELS.get(t.to_state, t.to_state),
                             "reason": t.reason, "actor": t.actor_label})
        record = UsageRecord.objects.filter(pk=job.pk).select_related("cluster").first()
        ctx.update(section="clusters", page_title=f"Job #{job.pk}", timeline=timeline, record=record,
                   notifications=Notification.objects.filter(job=job, user=self.request.user)[:20])
        return ctx


class BudgetView(RestrictedViewMixin, TemplateView):
    template_name = "dispatch/budget.html"
    model = Project

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        project = get_object_or_404(self.get_queryset(), slug=kwargs["slug"])
        status = usage.budget_status(project.pk)
        now = timezone.now()
        chart = usage.burn_down(status, now) if status else None
        records = (UsageRecord.objects.restrict(self.request.user).filter(project=project).select_related("job", "cluster")
                   .order_by("-job_id")[:25])
        ctx.update(section="projects", page_title=f"Budget of {project}", project=project, status=status, chart=chart,
                   chart_svg=charts.burn_down_svg(chart, now) if chart else None, records=records,
                   totals=UsageRecord.objects.filter(project=project).aggregate(
                       cost=Sum("cost"), gpu_hours=Sum("gpu_hours"), energy=Sum("energy_kwh"), co2e=Sum("co2e_kg")))
        return ctx
