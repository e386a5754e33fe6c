"""Compute clusters: global reference data every signed-in user may read; only org-wide roles
holding ``compute.add_computecluster`` / ``change_computecluster`` (administrators) write it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import DetailView, View
from django.views.generic.detail import SingleObjectMixin

from apps.compute import services
from apps.compute.filters import ClusterFilterSet
from apps.compute.models import ComputeCluster
from apps.core.mixins import RestrictedViewMixin

from ..forms import ClusterForm
from .base import FilteredListView, FormPageMixin, SectionMixin, select_widget


class ClusterListView(FilteredListView):
    model = ComputeCluster
    filterset_class = ClusterFilterSet
    template_name = "web/clusters/list.html"
    partial_template_name = "web/clusters/_results.html"
    section = "clusters"
    filter_fields = ("scheduler", "jurisdiction", "min_security_tier", "confidential_computing", "enabled")
    filter_labels = {"scheduler": "Scheduler", "jurisdiction": "Jurisdiction", "min_security_tier": "Accredited for at least",
                     "confidential_computing": "Confidential computing", "enabled": "Enabled"}

    def optimize(self, qs):
        return qs.select_related("jurisdiction")

    def customize_filter_form(self, form: forms.Form) -> None:
        codes = ComputeCluster.objects.order_by().values_list("jurisdiction_id", flat=True).distinct()
        select_widget(form, "jurisdiction", [(c, c) for c in sorted(codes)])
        select_widget(form, "scheduler", [c for c in form.fields["scheduler"].choices if c[0]])
        select_widget(form, "min_security_tier", [(str(v), label) for v, label in ComputeCluster.security_tier.field.choices])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Compute clusters", list_url=reverse("cluster-list"), can_add=self.can("add"))
        return ctx


class ClusterDetailView(SectionMixin, RestrictedViewMixin, DetailView):
    queryset = ComputeCluster.objects.select_related("jurisdiction")
    template_name = "web/clusters/detail.html"
    context_object_name = "cluster"
    section = "clusters"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["can_change"] = self.can("change", self.object)
        return ctx


class ClusterCreateView(FormPageMixin, View):
    model = ComputeCluster
    section = "clusters"
    page_title = "New compute cluster"
    submit_label = "Create"

    def load(self) -> None:
        if not self.can("add"):
            raise PermissionDenied("Only administrators register compute clusters.")

    def build_form(self, data: Any = None) -> ClusterForm:
        return ClusterForm(data)

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("cluster-list")}

    def save(self, form: ClusterForm) -> ComputeCluster:
        return services.create_cluster(form.service_fields())

    def success(self, cluster: ComputeCluster) -> HttpResponse:
        messages.success(self.request, f"Cluster “{cluster}” created.")
        return redirect("cluster-detail", pk=cluster.pk)


class ClusterEditView(FormPageMixin, SingleObjectMixin, View):
    queryset = ComputeCluster.objects.select_related("jurisdiction")
    permission_action = "change"
    section = "clusters"
    submit_label = "Save changes"

    def load(self) -> None:
        self.object = self.get_object()
        self.page_title = f"Edit cluster {self.object}"

    def build_form(self, data: Any = None) -> ClusterForm:
        # A copy: ModelForm validation writes onto its instance, and the service must compare
        # against the stored row, not a half-edited object.
        return ClusterForm(data, instance=ComputeCluster.objects.get(pk=self.object.pk))

    def form_context(self, form: forms.Form) -> dict[str, Any]:
        return {"cancel_url": reverse("cluster-detail", args=[self.object.pk])}

    def save(self, form: ClusterForm) -> ComputeCluster:
        return services.update_cluster(self.object, form.service_fields(), if_match=form.if_match(self.object))

    def success(self, cluster: ComputeCluster) -> HttpResponse:
        messages.success(self.request, f"Changes to cluster “{cluster}” saved.")
        return redirect("cluster-detail", pk=cluster.pk)
