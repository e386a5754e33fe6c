"""The REST API, version 1. Later capabilities register their viewsets on this router."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.accounts.api.views import MembershipViewSet, MeView, ProjectViewSet, ServiceAccountViewSet
from apps.catalog.api.views import (
    ConsentViewSet,
    DatasetVersionViewSet,
    DatasetViewSet,
    JurisdictionViewSet,
    ModelViewSet,
    NamespaceRuleViewSet,
    PurposeViewSet,
)
from apps.compute.api.views import ClusterViewSet


class Router(DefaultRouter):
    include_format_suffixes = False


router = Router(trailing_slash="/?")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("dataset-versions", DatasetVersionViewSet, basename="datasetversion")
router.register("models", ModelViewSet, basename="model")
router.register("consents", ConsentViewSet, basename="consent")
router.register("jurisdictions", JurisdictionViewSet, basename="jurisdiction")
router.register("namespace-rules", NamespaceRuleViewSet, basename="namespacerule")
router.register("purposes", PurposeViewSet, basename="purpose")
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("projects", ProjectViewSet, basename="project")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("service-accounts", ServiceAccountViewSet, basename="serviceaccount")

urlpatterns = [path("me", MeView.as_view(), name="me"), *router.urls]
