"""One FilterSet per model, shared by the REST API and the UI lists."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q

from .models import Action, Decision, DecisionMode, Outcome, Policy, PolicyVersion, Template, VersionState, Waiver, WaiverState


class PolicyFilterSet(df.FilterSet):
    q = df.CharFilter(method="filter_q", label="Search")
    template = df.ChoiceFilter(choices=Template.choices)
    state = df.ChoiceFilter(choices=VersionState.choices, method="filter_state", label="Has a version in state")

    class Meta:
        model = Policy
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        return qs.filter(Q(slug__icontains=value) | Q(name__icontains=value) | Q(description__icontains=value))

    def filter_state(self, qs, name, value):
        return qs.filter(versions__state=value).distinct()


class VersionFilterSet(df.FilterSet):
    policy = df.CharFilter(field_name="policy__slug")
    state = df.ChoiceFilter(choices=VersionState.choices)
    action = df.ChoiceFilter(choices=Action.choices)

    class Meta:
        model = PolicyVersion
        fields: list[str] = []


class WaiverFilterSet(df.FilterSet):
    policy = df.CharFilter(field_name="policy__slug")
    project = df.CharFilter(field_name="project__slug")
    state = df.ChoiceFilter(choices=WaiverState.choices)

    class Meta:
        model = Waiver
        fields: list[str] = []


class DecisionFilterSet(df.FilterSet):
    job = df.NumberFilter(field_name="job_id")
    project = df.CharFilter(field_name="project__slug")
    outcome = df.ChoiceFilter(choices=Outcome.choices)
    mode = df.ChoiceFilter(choices=DecisionMode.choices)
    since = df.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Decision
        fields: list[str] = []
