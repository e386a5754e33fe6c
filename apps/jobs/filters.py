"""One FilterSet for jobs, shared by the REST API and the UI queue."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q

from .models import Job, JobInput, JobKind, JobState


class JobFilterSet(df.FilterSet):
    q = df.CharFilter(method="filter_q", label="Search")
    # distinct=False: plain columns need no DISTINCT (django-filter adds one by default for multiple choices).
    state = df.MultipleChoiceFilter(choices=JobState.choices, distinct=False)
    kind = df.MultipleChoiceFilter(choices=JobKind.choices, distinct=False)
    project = df.CharFilter(field_name="project__slug", label="Project (slug)")
    purpose = df.CharFilter(method="filter_purpose")
    cluster = df.CharFilter(field_name="cluster__name", label="Placed on cluster")
    outcome = df.ChoiceFilter(choices=[("allow", "Allow"), ("require_approval", "Require approval"), ("deny", "Deny")],
                              field_name="last_decision__outcome", label="Decision")
    flagged = df.BooleanFilter(field_name="flagged_at", lookup_expr="isnull", exclude=True, label="Flagged by the guardrail")
    requested_by = df.CharFilter(field_name="requested_by__username")
    asset = df.NumberFilter(method="filter_asset", label="Uses asset (id)")
    submitted_after = df.IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")

    class Meta:
        model = Job
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        q = Q(output_name__icontains=value) | Q(image__icontains=value) | Q(purpose__icontains=value)
        if value.lstrip("#").isdigit():
            q |= Q(pk=int(value.lstrip("#")))
        return qs.filter(q)

    def filter_asset(self, qs, name, value):
        # A subquery, not a join + DISTINCT: a job row carries its decision's results (PostgreSQL
        # json, which has no equality operator for DISTINCT), and DISTINCT over wide rows is slow.
        return qs.filter(pk__in=JobInput.objects.filter(asset_id=value).values("job_id"))

    def filter_purpose(self, qs, name, value):
        return qs.filter(Q(purpose=value) | Q(purpose__startswith=value + "."))
