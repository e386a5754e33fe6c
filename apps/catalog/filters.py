"""One FilterSet per model, shared by the REST API and the UI lists."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q
from django.utils import timezone

from apps.core.filters import CodeFilterMixin

from .models import (
    Asset,
    AssetKind,
    Classification,
    ConsentRecord,
    ConsentStatus,
    DatasetVersion,
    Jurisdiction,
    LegalBasis,
    NamespaceRule,
    Purpose,
)


class AssetFilterSet(CodeFilterMixin, df.FilterSet):
    q = df.CharFilter(method="filter_q", label="Search")
    kind = df.MultipleChoiceFilter(choices=AssetKind.choices)
    project = df.CharFilter(field_name="project__slug", label="Project (slug)")
    classification = df.MultipleChoiceFilter(choices=Classification.choices)
    storage_jurisdiction = df.CharFilter(field_name="storage_jurisdiction_id", method="filter_code")
    processing_jurisdiction = df.CharFilter(method="filter_processing", label="May be processed in")
    tag = df.CharFilter(method="filter_tag")
    contains_pii = df.BooleanFilter()
    residency = df.ChoiceFilter(choices=[("known", "Known"), ("unknown", "Unknown")], method="filter_residency")
    consent_status = df.ChoiceFilter(
        choices=[*ConsentStatus.choices, ("missing", "No consent recorded")], method="filter_consent_status"
    )
    owner = df.CharFilter(field_name="owner__username")
    base_model = df.NumberFilter(field_name="base_model_id")

    class Meta:
        model = Asset
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        return qs.search(value)

    def filter_processing(self, qs, name, value):
        return qs.filter(processing_jurisdictions__contains=[value.upper()])

    def filter_tag(self, qs, name, value):
        return qs.filter(tags__contains=[value])

    def filter_residency(self, qs, name, value):
        unknown = Q(storage_jurisdiction__isnull=True) | Q(processing_jurisdictions=[])
        return qs.filter(unknown) if value == "unknown" else qs.exclude(unknown)

    def filter_consent_status(self, qs, name, value):
        now = timezone.now()
        if value == "missing":
            return qs.filter(consent__isnull=True)
        if value == ConsentStatus.WITHDRAWN:
            return qs.filter(consent__status=ConsentStatus.WITHDRAWN)
        if value == ConsentStatus.EXPIRED:
            return qs.filter(Q(consent__status=ConsentStatus.EXPIRED) | Q(consent__valid_until__lte=now)).exclude(consent__status=ConsentStatus.WITHDRAWN)
        if value == ConsentStatus.PENDING:
            return qs.filter(consent__status=ConsentStatus.ACTIVE, consent__valid_from__gt=now)
        return qs.filter(consent__status=ConsentStatus.ACTIVE, consent__valid_from__lte=now).filter(
            Q(consent__valid_until__isnull=True) | Q(consent__valid_until__gt=now)
        )


class ConsentFilterSet(CodeFilterMixin, df.FilterSet):
    q = df.CharFilter(method="filter_q", label="Search")
    project = df.CharFilter(field_name="project__slug")
    legal_basis = df.MultipleChoiceFilter(choices=LegalBasis.choices)
    status = df.ChoiceFilter(choices=ConsentStatus.choices)
    purpose = df.CharFilter(method="filter_purpose")
    expiring_within_days = df.NumberFilter(method="filter_expiring", label="Expiring within (days)")

    class Meta:
        model = ConsentRecord
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        return qs.filter(Q(reference__icontains=value) | Q(controller__icontains=value) | Q(notes__icontains=value))

    def filter_purpose(self, qs, name, value):
        return qs.filter(purposes__contains=[value])

    def filter_expiring(self, qs, name, value):
        return qs.expiring_within(int(value))


class DatasetVersionFilterSet(CodeFilterMixin, df.FilterSet):
    dataset = df.NumberFilter(field_name="dataset_id")

    class Meta:
        model = DatasetVersion
        fields: list[str] = []


class JurisdictionFilterSet(CodeFilterMixin, df.FilterSet):
    q = df.CharFilter(method="filter_q")
    kind = df.CharFilter()

    class Meta:
        model = Jurisdiction
        fields: list[str] = []

    def filter_q(self, qs, name, value):
        return qs.filter(Q(code__iexact=value) | Q(name__icontains=value))


class NamespaceRuleFilterSet(CodeFilterMixin, df.FilterSet):
    jurisdiction = df.CharFilter(field_name="jurisdiction_id", method="filter_code")

    class Meta:
        model = NamespaceRule
        fields: list[str] = []


class PurposeFilterSet(CodeFilterMixin, df.FilterSet):
    under = df.CharFilter(method="filter_under", label="Within purpose")

    class Meta:
        model = Purpose
        fields: list[str] = []

    def filter_under(self, qs, name, value):
        return qs.filter(Q(code=value) | Q(code__startswith=value + "."))
