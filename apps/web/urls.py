from django.contrib.auth import views as auth_views
from django.urls import path

from .views import accounts, assets, audit, clusters, consents, dashboard, reference

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only (Django 5)
    path("", dashboard.DashboardView.as_view(), name="dashboard"),
    # Catalog
    path("datasets/", assets.AssetListView.as_view(), name="dataset-list"),
    path("datasets/new/", assets.AssetCreateView.as_view(), name="dataset-create"),
    path("models/", assets.ModelListView.as_view(), name="model-list"),
    path("models/new/", assets.ModelCreateView.as_view(), name="model-create"),
    path("assets/<int:pk>/", assets.AssetDetailView.as_view(), name="asset-detail"),
    path("assets/<int:pk>/edit/", assets.AssetEditView.as_view(), name="asset-edit"),
    path("assets/<int:pk>/delete/", assets.AssetDeleteView.as_view(), name="asset-delete"),
    path("assets/<int:pk>/versions/new/", assets.DatasetVersionCreateView.as_view(), name="dataset-version-create"),
    path("consents/", consents.ConsentListView.as_view(), name="consent-list"),
    path("consents/new/", consents.ConsentCreateView.as_view(), name="consent-create"),
    path("consents/<int:pk>/", consents.ConsentDetailView.as_view(), name="consent-detail"),
    path("consents/<int:pk>/edit/", consents.ConsentEditView.as_view(), name="consent-edit"),
    path("consents/<int:pk>/withdraw/", consents.ConsentWithdrawView.as_view(), name="consent-withdraw"),
    # Compute
    path("clusters/", clusters.ClusterListView.as_view(), name="cluster-list"),
    path("clusters/new/", clusters.ClusterCreateView.as_view(), name="cluster-create"),
    path("clusters/<int:pk>/", clusters.ClusterDetailView.as_view(), name="cluster-detail"),
    path("clusters/<int:pk>/edit/", clusters.ClusterEditView.as_view(), name="cluster-edit"),
    # Global reference data
    path("reference/", reference.ReferenceIndexView.as_view(), name="reference-index"),
    path("reference/namespace-rules/", reference.NamespaceRuleListView.as_view(), name="namespace-rule-list"),
    path("reference/namespace-rules/new/", reference.NamespaceRuleCreateView.as_view(), name="namespace-rule-create"),
    path("reference/namespace-rules/test/", reference.NamespaceRuleResolveView.as_view(), name="namespace-rule-resolve"),
    path("reference/namespace-rules/<int:pk>/edit/", reference.NamespaceRuleEditView.as_view(), name="namespace-rule-edit"),
    path("reference/namespace-rules/<int:pk>/delete/", reference.NamespaceRuleDeleteView.as_view(), name="namespace-rule-delete"),
    path("reference/jurisdictions/", reference.JurisdictionListView.as_view(), name="jurisdiction-list"),
    path("reference/jurisdictions/new/", reference.JurisdictionCreateView.as_view(), name="jurisdiction-create"),
    path("reference/jurisdictions/<str:code>/", reference.JurisdictionDetailView.as_view(), name="jurisdiction-detail"),
    path("reference/jurisdictions/<str:code>/edit/", reference.JurisdictionEditView.as_view(), name="jurisdiction-edit"),
    path("reference/purposes/", reference.PurposeListView.as_view(), name="purpose-list"),
    path("reference/purposes/new/", reference.PurposeCreateView.as_view(), name="purpose-create"),
    path("reference/purposes/<str:code>/edit/", reference.PurposeEditView.as_view(), name="purpose-edit"),
    # Accounts
    path("projects/", accounts.ProjectListView.as_view(), name="project-list"),
    path("projects/new/", accounts.ProjectCreateView.as_view(), name="project-create"),
    path("projects/<slug:slug>/", accounts.ProjectDetailView.as_view(), name="project-detail"),
    path("projects/<slug:slug>/members/<int:pk>/remove/", accounts.MembershipRemoveView.as_view(), name="membership-remove"),
    path("service-accounts/", accounts.ServiceAccountListView.as_view(), name="service-account-list"),
    path("service-accounts/new/", accounts.ServiceAccountCreateView.as_view(), name="service-account-create"),
    path("service-accounts/<int:pk>/", accounts.ServiceAccountDetailView.as_view(), name="service-account-detail"),
    path("service-accounts/<int:pk>/tokens/", accounts.TokenCreateView.as_view(), name="token-create"),
    path("service-accounts/<int:pk>/tokens/<int:token_id>/revoke/", accounts.TokenRevokeView.as_view(), name="token-revoke"),
    # Audit
    path("audit/", audit.AuditListView.as_view(), name="audit-list"),
    path("audit/<int:pk>/", audit.AuditDetailView.as_view(), name="audit-detail"),
]
