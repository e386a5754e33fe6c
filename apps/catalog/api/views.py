from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.viewsets import RestrictedModelViewSet
from apps.core.services import etag_for

from .. import services
from ..filters import (
    AssetFilterSet,
    ConsentFilterSet,
    DatasetVersionFilterSet,
    JurisdictionFilterSet,
    NamespaceRuleFilterSet,
    PurposeFilterSet,
)
from ..models import Asset, AssetKind, ConsentRecord, DatasetVersion, Jurisdiction, NamespaceRule, Purpose
from ..models.jurisdictions import resolve_namespace
from . import serializers as s

DEFERRED_RELATED = [
    *(f"owner__{f}" for f in ("password", "last_login", "first_name", "last_name", "email", "is_staff", "is_active",
                               "date_joined", "description", "is_superuser", "org_role", "kind", "owner", "service_project")),
    *(f"project__{f}" for f in ("name", "description", "created_at", "updated_at")),
    *(f"consent__{f}" for f in ("reference", "purposes", "jurisdiction_scope", "data_subject_categories",
                                "personal_data_categories", "controller", "withdrawal_reason", "notes", "created_at", "updated_at")),
]
ASSET_ORDERING = ["id", "name", "namespace", "created_at", "updated_at", "classification"]


class _AssetViewSet(RestrictedModelViewSet):
    filterset_class = AssetFilterSet
    ordering_fields = ASSET_ORDERING
    kind: str = AssetKind.DATASET

    def optimize_queryset(self, qs):
        # Only the related columns the serializer shows: whole user/project/consent rows are
        # most of the bytes a list page would otherwise fetch.
        return qs.select_related("project", "owner", "consent").defer(*DEFERRED_RELATED)

    def service_update(self, obj, data, if_match):
        training = data.pop("training_datasets", None)
        return services.update_asset(obj, data, training_datasets=training, if_match=if_match)

    def service_delete(self, obj, if_match):
        services.delete_asset(obj, if_match=if_match)


class DatasetViewSet(_AssetViewSet):
    """Datasets: residency, classification, consent. Residency is inferred from the namespace
    rules when not declared, or left unknown."""

    queryset = Asset.objects.datasets()
    serializer_class = s.DatasetSerializer

    def service_create(self, data):
        return services.create_asset(AssetKind.DATASET, data)


class ModelViewSet(_AssetViewSet):
    """Models and fine-tunes. Give `base_model` (and `training_datasets`) to register a fine-tune."""

    queryset = Asset.objects.models()
    serializer_class = s.ModelSerializer

    def optimize_queryset(self, qs):
        return super().optimize_queryset(qs).prefetch_related(
            Prefetch("training_datasets", queryset=Asset.objects.only("id"))
        )

    def service_create(self, data):
        training = data.pop("training_datasets", [])
        kind = AssetKind.FINE_TUNE if data.get("base_model") else AssetKind.MODEL
        return services.create_asset(kind, data, training_datasets=training)

    def service_update(self, obj, data, if_match):
        if "base_model" in data and bool(data["base_model"]) != (obj.kind == AssetKind.FINE_TUNE):
            raise exceptions.ValidationError({"base_model": "A model cannot become a fine-tune or stop being one; register a new model."})
        return super().service_update(obj, data, if_match)


class DatasetVersionViewSet(RestrictedModelViewSet):
    queryset = DatasetVersion.objects.all()
    serializer_class = s.DatasetVersionSerializer
    filterset_class = DatasetVersionFilterSet
    ordering_fields = ["id", "created_at", "version"]
    create_project_field = "dataset.project"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def optimize_queryset(self, qs):
        return qs.select_related("dataset")

    def service_create(self, data):
        return services.create_dataset_version(data.pop("dataset"), data)

    def service_delete(self, obj, if_match):
        from apps.core import services as core

        core.delete(obj, if_match=if_match)


class ConsentViewSet(RestrictedModelViewSet):
    """Consent and legal-basis records. Withdraw with `POST …/withdraw/` (GDPR Art. 7(3))."""

    queryset = ConsentRecord.objects.all()
    serializer_class = s.ConsentSerializer
    filterset_class = ConsentFilterSet
    ordering_fields = ["id", "created_at", "valid_until", "reference"]
    http_method_names = ["get", "post", "put", "patch", "head", "options"]
    object_action_map = {"withdraw": "withdraw"}

    def optimize_queryset(self, qs):
        return qs.select_related("project")

    def service_create(self, data):
        return services.create_consent(data)

    def service_update(self, obj, data, if_match):
        return services.update_consent(obj, data, if_match=if_match)

    @extend_schema(request=s.WithdrawSerializer, responses=s.ConsentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        consent = self.get_object()
        body = s.WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        updated = services.withdraw_consent(consent, reason=body.validated_data["reason"],
                                            at=body.validated_data.get("withdrawn_at"), if_match=self.if_match())
        return Response(self.get_serializer(updated).data, headers={"ETag": etag_for(updated)})


class _GlobalViewSet(RestrictedModelViewSet):
    create_project_field = None


class JurisdictionViewSet(_GlobalViewSet):
    """ISO 3166 countries and blocs; a bloc stands for its members."""

    queryset = Jurisdiction.objects.all()
    serializer_class = s.JurisdictionSerializer
    filterset_class = JurisdictionFilterSet
    ordering_fields = ["code", "name"]
    lookup_value_regex = "[A-Za-z]{2,8}"
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def optimize_queryset(self, qs):
        return qs.prefetch_related("members")

    def get_object(self):
        self.kwargs[self.lookup_field] = self.kwargs[self.lookup_field].upper()
        return super().get_object()

    def service_create(self, data):
        members = [m.code for m in data.pop("members", [])]
        return services.create_jurisdiction(data, members)

    def service_update(self, obj, data, if_match):
        members = data.pop("members", None)
        return services.update_jurisdiction(obj, data, [m.code for m in members] if members is not None else None, if_match)


class NamespaceRuleViewSet(_GlobalViewSet):
    """Storage location → jurisdiction rules used to infer residency."""

    queryset = NamespaceRule.objects.all()
    serializer_class = s.NamespaceRuleSerializer
    filterset_class = NamespaceRuleFilterSet
    ordering_fields = ["priority", "pattern", "id"]

    def service_create(self, data):
        return services.create_namespace_rule(data)

    def service_update(self, obj, data, if_match):
        return services.update_namespace_rule(obj, data, if_match)

    def service_delete(self, obj, if_match):
        from apps.core import services as core

        core.delete(obj, if_match=if_match)

    @extend_schema(request=s.ResidencyResolveSerializer)
    @action(detail=False, methods=["post"], url_path="resolve")
    def resolve(self, request):
        """Which jurisdiction would an asset at this location get?"""
        body = s.ResidencyResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rule = resolve_namespace(body.validated_data["namespace"], body.validated_data["name"])
        if rule is None:
            return Response({"residency": "unknown", "rule": None, "storage_jurisdiction": None, "processing_jurisdictions": []})
        return Response({"residency": "known", "rule": rule.pattern, "storage_jurisdiction": rule.jurisdiction_id,
                         "processing_jurisdictions": list(rule.processing_jurisdictions) or [rule.jurisdiction_id]})

    def get_permissions(self):
        if self.action == "resolve":
            self.skip_role_permission = True
        return super().get_permissions()


class PurposeViewSet(_GlobalViewSet):
    """The purpose taxonomy (``research`` covers ``research.medical``)."""

    queryset = Purpose.objects.all()
    serializer_class = s.PurposeSerializer
    filterset_class = PurposeFilterSet
    ordering_fields = ["code"]
    lookup_value_regex = "[a-z0-9_.]+"
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def service_create(self, data):
        return services.create_purpose(data)

    def service_update(self, obj, data, if_match):
        from apps.core import services as core

        data.pop("code", None)
        return core.update(obj, data, if_match=if_match)


