from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from apps.accounts.models import Project, User, UserKind
from apps.core.api.fields import RestrictedRelatedFieldsMixin

from ..models import Asset, AssetKind, ConsentRecord, DatasetVersion, Jurisdiction, NamespaceRule, Purpose


class AssetSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(kind=UserKind.HUMAN),
                                         required=False, allow_null=True)
    storage_jurisdiction = serializers.PrimaryKeyRelatedField(queryset=Jurisdiction.objects.all(), required=False, allow_null=True,
                                                              help_text="ISO code; omit to infer from the namespace rules.")
    processing_jurisdictions = serializers.ListField(child=serializers.CharField(max_length=8), required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    consent = serializers.PrimaryKeyRelatedField(queryset=ConsentRecord.objects.all(), required=False, allow_null=True)
    consent_status = serializers.SerializerMethodField()
    residency_known = serializers.BooleanField(read_only=True)

    restricted_fields = {"project": "view", "consent": "view"}

    class Meta:
        model = Asset
        fields = [
            "id", "kind", "project", "namespace", "name", "owner", "description", "tags", "classification",
            "contains_pii", "storage_jurisdiction", "processing_jurisdictions", "residency_source", "residency_known",
            "consent", "consent_status", "created_at", "updated_at", "version",
        ]
        read_only_fields = ["id", "kind", "residency_source", "created_at", "updated_at", "version"]

    def get_consent_status(self, obj: Asset) -> str:
        return obj.consent.effective_status(self.context.get("now") or timezone.now()) if obj.consent_id else "missing"


class DatasetSerializer(AssetSerializer):
    pass


class ModelSerializer(AssetSerializer):
    base_model = serializers.PrimaryKeyRelatedField(
        queryset=Asset.objects.filter(kind__in=[AssetKind.MODEL, AssetKind.FINE_TUNE]), required=False, allow_null=True,
        help_text="Set for a fine-tune: the model it was trained from.",
    )
    training_datasets = serializers.PrimaryKeyRelatedField(
        queryset=Asset.objects.filter(kind=AssetKind.DATASET), many=True, required=False,
    )
    restricted_fields = {**AssetSerializer.restricted_fields, "base_model": "view", "training_datasets": "view"}

    class Meta(AssetSerializer.Meta):
        fields = [*AssetSerializer.Meta.fields, "base_model", "training_datasets"]


class DatasetVersionSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(queryset=Asset.objects.filter(kind=AssetKind.DATASET))
    consent = serializers.PrimaryKeyRelatedField(queryset=ConsentRecord.objects.all(), required=False, allow_null=True)
    restricted_fields = {"dataset": "view", "consent": "view"}

    class Meta:
        model = DatasetVersion
        fields = ["id", "dataset", "version", "description", "location", "row_count", "consent", "created_at"]
        read_only_fields = ["id", "created_at"]


class ConsentSerializer(RestrictedRelatedFieldsMixin, serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", queryset=Project.objects.all())
    purposes = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False)
    jurisdiction_scope = serializers.ListField(child=serializers.CharField(max_length=8), required=False)
    data_subject_categories = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    personal_data_categories = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    effective_status = serializers.SerializerMethodField()
    restricted_fields = {"project": "view"}

    class Meta:
        model = ConsentRecord
        fields = [
            "id", "project", "reference", "legal_basis", "purposes", "jurisdiction_scope", "data_subject_categories",
            "personal_data_categories", "controller", "valid_from", "valid_until", "status", "effective_status",
            "withdrawn_at", "withdrawal_reason", "notes", "created_at", "updated_at", "version",
        ]
        read_only_fields = ["id", "status", "withdrawn_at", "withdrawal_reason", "created_at", "updated_at", "version"]

    def get_effective_status(self, obj: ConsentRecord) -> str:
        return obj.effective_status()


class WithdrawSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    withdrawn_at = serializers.DateTimeField(required=False)


class JurisdictionSerializer(serializers.ModelSerializer):
    members = serializers.SlugRelatedField(slug_field="code", many=True, queryset=Jurisdiction.objects.all(), required=False)

    class Meta:
        model = Jurisdiction
        fields = ["code", "name", "kind", "members"]


class NamespaceRuleSerializer(serializers.ModelSerializer):
    processing_jurisdictions = serializers.ListField(child=serializers.CharField(max_length=8), required=False)

    class Meta:
        model = NamespaceRule
        fields = ["id", "pattern", "jurisdiction", "processing_jurisdictions", "priority", "description"]


class PurposeSerializer(serializers.ModelSerializer):
    parent_code = serializers.CharField(read_only=True)

    class Meta:
        model = Purpose
        fields = ["code", "name", "description", "parent_code"]


class ResidencyResolveSerializer(serializers.Serializer):
    namespace = serializers.CharField(max_length=500)
    name = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)
