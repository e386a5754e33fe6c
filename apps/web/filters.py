"""Filters for the audit log page. The audit app exposes no FilterSet of its own (the ledger
has no list API yet); this one only narrows what ``visible_audit_events`` already allows."""

from __future__ import annotations

import django_filters as df
from django import forms

from apps.audit.models import AuditEvent


class AuditEventFilterSet(df.FilterSet):
    actor = df.CharFilter(field_name="actor_label", lookup_expr="icontains", label="Actor")
    action = df.CharFilter(field_name="action", lookup_expr="icontains", label="Action",
                           help_text="e.g. catalog.dataset or consentrecord.withdraw")
    object_type = df.CharFilter(field_name="object_type", label="Object type")
    # Set by "history" links on detail pages; not shown in the filter form.
    object_id = df.CharFilter(field_name="object_id", label="Object id")
    since = df.DateFilter(field_name="occurred_at", lookup_expr="date__gte", label="From",
                          widget=forms.DateInput(attrs={"type": "date"}))
    until = df.DateFilter(field_name="occurred_at", lookup_expr="date__lte", label="Until",
                          widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = AuditEvent
        fields: list[str] = []
