from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.core.views import health
from apps.dispatch.metrics import metrics_view

urlpatterns = [
    path("health/", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("dispatch/", include("apps.dispatch.urls")),
    path("api/v1/", include("govhub.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("admin/", admin.site.urls),
    path("evidence/", include("apps.evidence.urls")),
    path("lineage/", include("apps.lineage.urls")),
    path("jobs/", include("apps.jobs.urls")),
    path("policies/", include("apps.policy.urls")),
    path("", include("apps.web.urls")),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
