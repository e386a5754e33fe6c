import django_filters as df

from apps.core.filters import CodeFilterMixin

from .models import ComputeCluster, SchedulerKind


class ClusterFilterSet(CodeFilterMixin, df.FilterSet):
    q = df.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    scheduler = df.ChoiceFilter(choices=SchedulerKind.choices)
    jurisdiction = df.CharFilter(field_name="jurisdiction_id", method="filter_code")
    min_security_tier = df.NumberFilter(field_name="security_tier", lookup_expr="gte")
    confidential_computing = df.BooleanFilter()
    enabled = df.BooleanFilter()

    class Meta:
        model = ComputeCluster
        fields: list[str] = []
