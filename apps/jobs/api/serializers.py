from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.accounts.models import Project
from apps.catalog.models import Asset, DatasetVersion, Jurisdiction
from apps.compute.models import ComputeCluster
from apps.core.api.fields import RestrictedRelatedFieldsMixin

from ..models import InputRole, Job, JobKind

MAX_INPUTS = 500


@extend_schema_field(OpenApiTypes.STR)
class ClusterChoiceField(serializers.Field):
    """A cluster name, or "any" (or null): govhub picks the cheapest cluster that passes every rule."""

    default_error_messages = {"unknown": "Unknown cluster {value!r}; give a cluster name or \"any\"."}

    def to_internal_value(self, data: Any) -> ComputeCluster | None:
        if data in (None, "", "any"):
            return None
        cluster = ComputeCluster.objects.filter(name=str(data)).first()
        if cluster is None:
            self.fail("unknown", value=data)
        return cluster

    def to_representation(self, value: Any) -> str:
        return value.name if value else "any"


class InputSerializer(serializers.Serializer):
    asset = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.all(), help_text="A dataset, model or fine-tune id.")
    dataset_version = serializers.PrimaryKeyRelatedField(queryset=DatasetVersion.objects.all(), required=False, allow_null=True)
    role = serializers.ChoiceField(choices=InputRole.choices, required=False, help_text="Default: data for datasets, "
                                   "base_model for a fine-tuning job's model, model otherwise.")


class JobCreateSerializer(RestrictedRelatedFieldsMixin, serializers.Serializer):
    kind = serializers.ChoiceField(choices=JobKind.choices)
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    purpose = serializers.CharField(max_length=100, help_text="A code from the purpose taxonomy, e.g. research.medical.")
    inputs = InputSerializer(many=True, allow_empty=False, max_length=MAX_INPUTS)
    output_name = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    output_namespace = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    target_cluster = ClusterChoiceField(required=False, default=None)
    serving_jurisdiction = serializers.CharField(max_length=8, required=False, allow_blank=True, default="")
    image = serializers.CharField(max_length=500, help_text="Container image, pinned: registry/name@sha256:<digest>.")
    command = serializers.ListField(child=serializers.CharField(max_length=2000), required=False, default=list, max_length=200)
    gpus = serializers.IntegerField(min_value=1, max_value=100_000)
    estimated_hours = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=Decimal("0.01"))

    restricted_fields = {"project": "view"}

    def validate_inputs(self, inputs: list[dict]) -> list[dict]:
        """Only assets the caller may see (others read as unknown ids, never as forbidden)."""
        request = self.context.get("request")
        ids = {i["asset"].pk for i in inputs}
        visible = set(Asset.objects.restrict(getattr(request, "user", None), "view").filter(pk__in=ids).values_list("pk", flat=True))
        errors = {n: {"asset": [f'Invalid pk "{i["asset"].pk}" - object does not exist.']}
                  for n, i in enumerate(inputs) if i["asset"].pk not in visible}
        if errors:
            raise serializers.ValidationError(errors)
        return inputs

    def validate_serving_jurisdiction(self, value: str) -> str:
        value = value.strip().upper()
        if value and not Jurisdiction.objects.filter(code=value).exists():
            raise serializers.ValidationError(f"Unknown jurisdiction {value!r}.")
        return value


class DecisionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    outcome = serializers.CharField()
    mode = serializers.CharField()
    summary = serializers.CharField()
    created_at = serializers.DateTimeField()


class DecisionDetailSerializer(DecisionSummarySerializer):
    cluster = serializers.SerializerMethodField()
    violations = serializers.ListField(child=serializers.DictField())
    rejected_clusters = serializers.ListField(child=serializers.DictField())
    policy_set = serializers.ListField(child=serializers.DictField())
    shadow = serializers.ListField(child=serializers.DictField())
    error = serializers.CharField()
    duration_ms = serializers.FloatField()

    def get_cluster(self, obj: Any) -> str | None:
        return obj.chosen_cluster


class JobSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    target_cluster = serializers.SerializerMethodField(help_text='A cluster name, or "any".')
    cluster = serializers.SlugRelatedField(slug_field="name", read_only=True)
    inputs = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "kind", "state", "state_reason", "project", "purpose", "inputs", "output_name", "output_namespace",
                  "target_cluster", "cluster", "serving_jurisdiction", "image", "command", "gpus", "estimated_hours",
                  "estimated_cost", "cost_currency", "requested_by", "approved_by", "approved_at", "submitted_at", "decided_at",
                  "guardrail_violation", "flagged_at", "version", "decision"]
        read_only_fields = fields
        ref_name = "ComputeJob"  # "Job" is the lineage app's OpenLineage job

    def get_target_cluster(self, obj: Job) -> str:
        return obj.target_cluster.name if obj.target_cluster_id else "any"

    def get_inputs(self, obj: Job) -> list[dict[str, Any]]:
        return [{"asset": i.asset_id, "name": i.asset.name, "namespace": i.asset.namespace, "kind": i.asset.kind,
                 "dataset_version": i.dataset_version_id, "role": i.role} for i in obj.job_inputs.all()]

    def get_decision(self, obj: Job) -> dict[str, Any] | None:
        if obj.last_decision_id is None:
            return None
        detail = self.context.get("detail", False)
        serializer = DecisionDetailSerializer if detail else DecisionSummarySerializer
        return serializer(obj.last_decision).data


class JobNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
