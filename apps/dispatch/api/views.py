"""Dispatch API: the run-time limits of project budgets (``/budget-limits``; the money amount is
the policy app's ``/budgets``) and what each job used (``/job-usage``, read-only)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.fields import RestrictedRelatedFieldsMixin
from apps.core.api.viewsets import RestrictedModelViewSet, RestrictedReadOnlyViewSet

from .. import usage
from ..models import BudgetLimits, UsageRecord


class BudgetLimitsSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    restricted_fields = {"budget": "change"}
    project = serializers.CharField(source="budget.project.slug", read_only=True)

    class Meta:
        model = BudgetLimits
        fields = ["budget", "project", "period_start", "period_end", "gpu_hours_limit", "energy_kwh_limit", "max_concurrent_gpus",
                  "warn_percent", "hard_percent", "warned_at", "exceeded_at", "updated_at", "version"]
        read_only_fields = ["warned_at", "exceeded_at", "updated_at", "version"]

    def validate(self, attrs):
        warn = attrs.get("warn_percent", getattr(self.instance, "warn_percent", 80))
        hard = attrs.get("hard_percent", getattr(self.instance, "hard_percent", 100))
        if warn > hard:
            raise serializers.ValidationError({"warn_percent": "The warning threshold must not be above the hard threshold."})
        return attrs


class BudgetLimitsViewSet(RestrictedModelViewSet):
    """GPU-hours and energy limits, warn/hard thresholds, the counting period and the GPU quota of
    a project's budget. Crossing the hard threshold stops the project's running jobs."""

    queryset = BudgetLimits.objects.select_related("budget__project")
    serializer_class = BudgetLimitsSerializer
    create_project_field = "budget.project"
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    ordering_fields = ["budget", "updated_at"]

    def service_create(self, data):
        return usage.create_limits(data)

    def service_update(self, obj, data, if_match):
        data.pop("budget", None)  # limits stay with their budget
        return usage.update_limits(obj, data, if_match=if_match)


class UsageRecordSerializer(serializers.ModelSerializer):
    state = serializers.CharField(source="job.state", read_only=True)
    cluster = serializers.CharField(source="cluster.name", read_only=True)
    project = serializers.CharField(source="project.slug", read_only=True)
    govhub_dispatch_seconds = serializers.FloatField(read_only=True)

    class Meta:
        model = UsageRecord
        fields = ["job", "state", "project", "cluster", "backend", "scheduler_tag", "scheduler_state", "gpus", "gpu_hours",
                  "energy_kwh", "energy_source", "cost", "currency", "co2e_kg", "power_w", "gpu_util_percent", "fb_used_mib",
                  "measured_until", "approved_at", "submit_started_at", "recorded_at", "running_seen_at", "govhub_dispatch_seconds",
                  "cancel_reason", "cancel_requested_at", "cancel_acked_at", "stopped_at"]
        read_only_fields = fields


class UsageRecordViewSet(RestrictedReadOnlyViewSet):
    """Per job: GPU-hours, energy (telemetry or estimate), cost and CO₂e, and dispatch timings."""

    queryset = UsageRecord.objects.select_related("job", "cluster", "project")
    serializer_class = UsageRecordSerializer
    ordering_fields = ["job", "cost", "gpu_hours"]
    ordering = ["-job"]
    filterset_fields = ["project", "cluster", "backend"]
