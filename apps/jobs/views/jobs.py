"""The job queue with each decision's reasons, a job's page, and approve/deny for jobs awaiting
approval (not the requester, nor the owner of the requesting service account)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import DetailView, View

from apps.accounts.models import Project
from apps.core.mixins import RestrictedViewMixin
from apps.web.views.base import FilteredListView, SectionMixin, select_widget

from .. import services
from ..filters import JobFilterSet
from ..models import Job, JobState


class JobQueueView(FilteredListView):
    model = Job
    filterset_class = JobFilterSet
    template_name = "jobs/list.html"
    partial_template_name = "jobs/_results.html"
    section = "jobs"
    filter_fields = ("state", "kind", "project", "outcome", "flagged")
    filter_labels = {"state": "State", "kind": "Kind", "project": "Project", "outcome": "Decision", "flagged": "Flagged by the guardrail"}

    def optimize(self, qs):
        return qs.select_related("project", "requested_by", "target_cluster", "cluster", "last_decision").defer("last_decision__facts")

    def customize_filter_form(self, form) -> None:
        projects = Project.objects.restrict(self.request.user, "view").order_by("slug").values_list("slug", flat=True)
        select_widget(form, "project", [(p, p) for p in projects])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        awaiting = self.get_queryset().filter(state=JobState.AWAITING_APPROVAL).count()
        ctx.update(page_title="Jobs", list_url=reverse("job-list"), awaiting=awaiting)
        return ctx


class JobDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = Job.objects.select_related("project", "requested_by__owner", "approved_by", "target_cluster", "cluster", "last_decision")
    template_name = "jobs/detail.html"
    context_object_name = "job"
    section = "jobs"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        job = self.object
        user = self.request.user
        requester = job.requested_by
        separate = user.pk not in (requester.pk, requester.owner_id)
        decision = job.last_decision
        ctx.update(
            inputs=job.job_inputs.select_related("asset", "dataset_version").order_by("id"),
            transitions=job.transitions.all(), decision=decision,
            decisions=job.decisions.only("id", "mode", "outcome", "summary", "created_at").order_by("-id")[:20],
            facts=json.dumps(decision.facts, indent=2, sort_keys=True) if decision else "",
            can_decide=job.state == JobState.AWAITING_APPROVAL and self.can("approve", job) and separate,
            self_approval=job.state == JobState.AWAITING_APPROVAL and self.can("approve", job) and not separate,
            can_cancel=job.state in services.CANCELLABLE and self.can("change", job),
            can_resubmit=job.state == JobState.DENIED and self.can("change", job),
        )
        return ctx


class JobActionView(SectionMixin, RestrictedViewMixin, View):
    model = Job
    PERMS = {"approve": "approve", "deny": "approve", "cancel": "change", "resubmit": "change"}

    def post(self, request: HttpRequest, pk: int, op: str) -> HttpResponse:
        job = get_object_or_404(self.get_queryset().select_related("requested_by"), pk=pk)
        if op not in self.PERMS or not self.can(self.PERMS[op], job):
            raise PermissionDenied("Your role does not allow this.")
        note = request.POST.get("note", "")
        try:
            if op == "approve":
                services.approve_job(job, request.user, note)
                messages.success(request, f"Job #{pk} approved.")
            elif op == "deny":
                services.deny_job(job, request.user, note)
                messages.success(request, f"Job #{pk} denied.")
            elif op == "cancel":
                services.cancel_job(job, note)
                messages.success(request, f"Job #{pk} cancelled.")
            elif op == "resubmit":
                services.resubmit_job(job)
                messages.success(request, f"Job #{pk} resubmitted; a new decision follows shortly.")
        except ValidationError as exc:
            for text in exc.messages:
                messages.error(request, text)
        return redirect("job-detail", pk=pk)
