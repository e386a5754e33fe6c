"""The audit ledger, read-only: who changed what, when, and the before/after of each change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.views.generic import DetailView

from apps.audit.models import AuditEvent
from apps.core.mixins import RestrictedViewMixin

from ..filters import AuditEventFilterSet
from .base import FilteredListView, SectionMixin, select_widget, visible_audit_events

# Where an audited object can be opened in the UI (object_type → URL name).
OBJECT_URLS = {
    "catalog.asset": "asset-detail",
    "catalog.consentrecord": "consent-detail",
    "compute.computecluster": "cluster-detail",
}


class AuditQuerysetMixin:
    model = AuditEvent

    def get_queryset(self):
        return visible_audit_events(self.request.user)  # type: ignore[attr-defined]


class AuditListView(AuditQuerysetMixin, FilteredListView):
    filterset_class = AuditEventFilterSet
    template_name = "web/audit/list.html"
    partial_template_name = "web/audit/_results.html"
    section = "audit"
    filter_fields = ("actor", "action", "object_type", "since", "until")

    def customize_filter_form(self, form: forms.Form) -> None:
        types = self.get_queryset().order_by("object_type").values_list("object_type", flat=True).distinct()
        select_widget(form, "object_type", [(t, t) for t in types if t])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx.update(page_title="Audit log", list_url=self.request.path)
        return ctx


class AuditDetailView(AuditQuerysetMixin, SectionMixin, RestrictedViewMixin, DetailView):
    template_name = "web/audit/detail.html"
    context_object_name = "event"
    section = "audit"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        event: AuditEvent = self.object
        ctx = super().get_context_data(**kwargs)
        before, after = event.before or {}, event.after or {}
        if event.before and event.after:
            changed = set(event.changed_fields)
            ctx["changes"] = [{"field": f, "before": before.get(f), "after": after.get(f)} for f in event.changed_fields]
            ctx["unchanged"] = [{"field": f, "value": after.get(f)} for f in sorted((set(before) | set(after)) - changed)]
        else:
            # A creation or a deletion: one set of values, nothing to compare.
            ctx["values"] = [{"field": f, "value": v} for f, v in sorted((after or before).items())]
        if event.action.rpartition(".")[2] != "delete":
            ctx["object_url_name"] = OBJECT_URLS.get(event.object_type)
        return ctx
