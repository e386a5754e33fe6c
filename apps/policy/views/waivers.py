"""Waiver requests and approvals."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import DetailView, View

from apps.core.mixins import RestrictedViewMixin
from apps.web.forms import projects_for
from apps.web.views.base import FilteredListView, FormPageMixin, SectionMixin, select_widget

from .. import services
from ..filters import WaiverFilterSet
from ..forms import NoteForm, WaiverForm
from ..models import Policy, Waiver, WaiverState


class WaiverListView(FilteredListView):
    model = Waiver
    filterset_class = WaiverFilterSet
    template_name = "policy/waivers/list.html"
    partial_template_name = "policy/waivers/_results.html"
    section = "waivers"
    filter_fields = ("state", "policy", "project")
    filter_labels = {"state": "State", "policy": "Policy", "project": "Project"}

    def optimize(self, qs):
        return qs.select_related("policy", "project", "requested_by", "approved_by")

    def customize_filter_form(self, form) -> None:
        select_widget(form, "policy", [(s, s) for s in Policy.objects.order_by("slug").values_list("slug", flat=True)])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Waivers", list_url=reverse("waiver-list"), can_add=bool(projects_for(self.request.user, "policy.add_waiver"))
                   or self.can("add"))
        return ctx


class WaiverCreateView(FormPageMixin, View):
    model = Waiver
    section = "waivers"
    page_title = "Request a waiver"
    submit_label = "Request"

    def load(self) -> None:
        if not projects_for(self.request.user, "policy.add_waiver").exists() and not self.can("add"):
            raise PermissionDenied("Your role does not allow requesting waivers.")

    def build_form(self, data: Any = None) -> WaiverForm:
        initial = {"policy": self.request.GET.get("policy")} if self.request.GET.get("policy") else None
        return WaiverForm(data, initial=initial, projects=projects_for(self.request.user, "policy.add_waiver"))

    def form_context(self, form) -> dict[str, Any]:
        return {"cancel_url": reverse("waiver-list")}

    def save(self, form: WaiverForm) -> Waiver:
        fields = form.service_fields()
        if not self.can("add", project=fields["project"]):
            raise ValidationError({"project": "Your role does not allow waivers for every project; choose one."})
        return services.request_waiver(self.request.user, fields)

    def success(self, waiver: Waiver) -> HttpResponse:
        messages.success(self.request, f"Waiver #{waiver.pk} requested; someone else must approve it.")
        return redirect("waiver-detail", pk=waiver.pk)


class WaiverDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = Waiver.objects.select_related("policy", "project", "requested_by", "approved_by")
    template_name = "policy/waivers/detail.html"
    context_object_name = "waiver"
    section = "waivers"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        w = self.object
        user = self.request.user
        may = self.can("approve", w)
        ctx.update(note_form=NoteForm(), can_decide=may and w.state == WaiverState.REQUESTED and user.pk != w.requested_by_id,
                   can_revoke=may and w.state == WaiverState.APPROVED, is_requester=user.pk == w.requested_by_id)
        return ctx


class WaiverActionView(SectionMixin, RestrictedViewMixin, View):
    model = Waiver

    def post(self, request: HttpRequest, pk: int, op: str) -> HttpResponse:
        waiver = get_object_or_404(self.get_queryset().select_related("policy", "requested_by"), pk=pk)
        if not self.can("approve", waiver):
            raise PermissionDenied("Your role does not allow deciding waivers.")
        form = NoteForm(request.POST)
        note = form.data.get("note", "")
        try:
            if op == "approve":
                services.approve_waiver(waiver, request.user, note=note)
                messages.success(request, f"Waiver #{pk} approved until {waiver.expires_at:%Y-%m-%d %H:%M} UTC.")
            elif op == "reject":
                services.reject_waiver(waiver, request.user, note=note)
                messages.success(request, f"Waiver #{pk} rejected.")
            elif op == "revoke":
                services.revoke_waiver(waiver, note=note)
                messages.success(request, f"Waiver #{pk} revoked.")
        except ValidationError as exc:
            for text in exc.messages:
                messages.error(request, text)
        return redirect("waiver-detail", pk=pk)
