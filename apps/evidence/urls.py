from django.urls import path

from . import views

urlpatterns = [
    path("", views.EvidenceHomeView.as_view(), name="evidence-home"),
    path("exports/", views.ExportCreateView.as_view(), name="evidence-export-create"),
    path("exports/<uuid:pk>/", views.ExportDetailView.as_view(), name="evidence-export"),
    path("exports/<uuid:pk>/download/", views.ExportDownloadView.as_view(), name="evidence-export-download"),
    path("verify/", views.VerifyNowView.as_view(), name="evidence-verify"),
]
