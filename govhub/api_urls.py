"""The REST API, version 1. Later capabilities register their viewsets on this router."""

from django.urls import path, re_path
from rest_framework.routers import DefaultRouter

from apps.accounts.api.views import MembershipViewSet, MeView, ProjectViewSet, ServiceAccountViewSet
from apps.audit.api.views import LedgerViewSet
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
from apps.dispatch.api.views import BudgetLimitsViewSet, UsageRecordViewSet
from apps.evidence.api.views import ExportViewSet
from apps.jobs.api.views import JobViewSet
from apps.lineage.api import urls as lineage_urls
from apps.policy.api.views import (
    BudgetViewSet,
    DecideView,
    DecisionViewSet,
    EvaluationViewSet,
    PolicyVersionViewSet,
    PolicyViewSet,
    WaiverViewSet,
)


class Router(DefaultRouter):
    include_format_suffixes = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # DRF turns any truthy trailing_slash into "/"; keep the optional slash the router was given
        # so that POST /api/v1/jobs works without a redirect (a redirected POST loses its body).
        if kwargs.get("trailing_slash") == "/?":
            self.trailing_slash = "/?"


router = Router(trailing_slash="/?")
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("dataset-versions", DatasetVersionViewSet, basename="datasetversion")
router.register("models", ModelViewSet, basename="model")
router.register("consents", ConsentViewSet, basename="consent")
router.register("jurisdictions", JurisdictionViewSet, basename="jurisdiction")
router.register("namespace-rules", NamespaceRuleViewSet, basename="namespacerule")
router.register("purposes", PurposeViewSet, basename="purpose")
router.register("clusters", ClusterViewSet, basename="cluster")
router.register("budget-limits", BudgetLimitsViewSet, basename="budgetlimits")
router.register("job-usage", UsageRecordViewSet, basename="jobusage")
router.register("projects", ProjectViewSet, basename="project")
router.register("memberships", MembershipViewSet, basename="membership")
router.register("service-accounts", ServiceAccountViewSet, basename="serviceaccount")
router.register("ledger", LedgerViewSet, basename="ledger")
router.register("jobs", JobViewSet, basename="job")
router.register("policies", PolicyViewSet, basename="policy")
router.register("policy-versions", PolicyVersionViewSet, basename="policyversion")
router.register("waivers", WaiverViewSet, basename="waiver")
router.register("evaluations", EvaluationViewSet, basename="modelevaluation")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("decisions", DecisionViewSet, basename="decision")
router.register("evidence/exports", ExportViewSet, basename="export")

lineage_urls.register(router)

urlpatterns = [path("me", MeView.as_view(), name="me"), re_path(r"^decide/?$", DecideView.as_view(), name="decide"), *lineage_urls.urlpatterns, *router.urls]
