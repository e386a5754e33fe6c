from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.accounts.models import Project
from apps.catalog.models import Asset, AssetKind
from apps.core.api.fields import RestrictedRelatedFieldsMixin

from ..models import Action, Budget, Decision, ModelEvaluation, Policy, PolicyTestRun, PolicyVersion, Template, Waiver, WhatIfReport


class PolicySerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    active_version = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = ["id", "slug", "name", "description", "template", "owner", "active_version", "created_at", "updated_at", "version"]
        read_only_fields = ["id", "owner", "created_at", "updated_at", "version"]

    def get_active_version(self, obj: Policy) -> int | None:
        active = [v for v in obj.versions.all() if v.state == "active"]
        return active[0].number if active else None


class PolicyCreateSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    template = serializers.ChoiceField(choices=Template.choices)
    action = serializers.ChoiceField(choices=Action.choices, default=Action.DENY)
    params = serializers.DictField(required=False, default=dict)
    scope = serializers.DictField(required=False, default=dict)
    rego_source = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    tests = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    change_note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_slug(self, value: str) -> str:
        if Policy.objects.filter(slug=value).exists():
            raise serializers.ValidationError("A policy with this slug exists.")
        return value


class PolicyVersionSerializer(serializers.ModelSerializer):
    policy = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    template = serializers.CharField(source="policy.template", read_only=True)
    authored_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    params = serializers.DictField(required=False)
    scope = serializers.DictField(required=False)
    tests = serializers.ListField(child=serializers.DictField(), required=False)
    rego_source = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)

    class Meta:
        model = PolicyVersion
        fields = ["id", "policy", "template", "number", "state", "action", "params", "scope", "rego_source", "tests", "change_note",
                  "shadow", "authored_by", "approved_by", "submitted_at", "activated_at", "retired_at", "content_digest",
                  "created_at", "updated_at", "version"]
        read_only_fields = ["id", "policy", "template", "number", "state", "shadow", "authored_by", "approved_by", "submitted_at",
                            "activated_at", "retired_at", "content_digest", "created_at", "updated_at", "version"]


class TestRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = PolicyTestRun
        fields = ["id", "passed", "results", "ran_by", "ran_at", "content_digest"]


class WhatIfSerializer(serializers.ModelSerializer):
    class Meta:
        model = WhatIfReport
        fields = ["id", "days", "jobs_replayed", "changed", "summary", "requested_by", "created_at", "duration_s"]


class WhatIfRequestSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=365, default=30)


class PolicyNoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DryRunSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class WaiverSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    policy = serializers.SlugRelatedField(slug_field="slug", queryset=Policy.objects.all())
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all(), required=False, allow_null=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    scope = serializers.DictField(required=False, default=dict)
    restricted_fields = {"project": "view"}

    class Meta:
        model = Waiver
        fields = ["id", "policy", "project", "scope", "justification", "ticket", "state", "requested_by", "approved_by",
                  "approved_at", "expires_at", "decision_note", "revoked_at", "created_at", "updated_at", "version"]
        read_only_fields = ["id", "state", "requested_by", "approved_by", "approved_at", "decision_note", "revoked_at",
                            "created_at", "updated_at", "version"]
        extra_kwargs = {"expires_at": {"required": True}}


class EvaluationSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    model = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.filter(kind__in=[AssetKind.MODEL, AssetKind.FINE_TUNE]))
    jurisdictions = serializers.ListField(child=serializers.CharField(max_length=8), allow_empty=False)
    evaluator = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    restricted_fields = {"model": "view"}

    class Meta:
        model = ModelEvaluation
        fields = ["id", "model", "language", "jurisdictions", "status", "evaluator", "approved_by", "approved_at", "report_url",
                  "notes", "created_at", "version"]
        read_only_fields = ["id", "status", "evaluator", "approved_by", "approved_at", "created_at", "version"]


class BudgetSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    remaining = serializers.SerializerMethodField()
    restricted_fields = {"project": "view"}

    class Meta:
        model = Budget
        fields = ["id", "project", "amount", "currency", "remaining", "updated_at", "version"]
        read_only_fields = ["id", "remaining", "updated_at", "version"]

    def get_remaining(self, obj: Budget) -> str | None:
        from ..facts import remaining_budget

        found = remaining_budget(obj.project_id)
        return str(found[0]) if found else None


class DecisionSerializer(serializers.ModelSerializer):
    cluster = serializers.SerializerMethodField()
    violations = serializers.ListField(child=serializers.DictField(), read_only=True)
    rejected_clusters = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = Decision
        fields = ["id", "job", "mode", "outcome", "cluster", "summary", "violations", "rejected_clusters", "shadow", "policy_set",
                  "error", "duration_ms", "created_at", "facts_digest"]

    def get_cluster(self, obj: Decision) -> str | None:
        return obj.chosen_cluster


class DecisionDetailSerializer(DecisionSerializer):
    class Meta(DecisionSerializer.Meta):
        fields = [*DecisionSerializer.Meta.fields, "facts", "results"]


class DecideSerializer(serializers.Serializer):
    model = serializers.IntegerField(min_value=1, help_text="The model's (or fine-tune's) id.")
    purpose = serializers.CharField(max_length=100)
    jurisdiction = serializers.CharField(max_length=8, help_text="Where it is served (ISO 3166-1 alpha-2).")

    def validate_jurisdiction(self, value: str) -> str:
        return value.strip().upper()


class DecideResponseSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    outcome = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    violations = serializers.ListField(child=serializers.DictField())
    policy_set = serializers.ListField(child=serializers.DictField())
    source = serializers.CharField()


def flatten_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}
