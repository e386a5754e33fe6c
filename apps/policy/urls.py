from django.urls import path

from .views import policies, versions, waivers

urlpatterns = [
    path("", policies.PolicyListView.as_view(), name="policy-list"),
    path("new/", policies.PolicyCreateView.as_view(), name="policy-create"),
    path("<int:pk>/", policies.PolicyDetailView.as_view(), name="policy-detail"),
    path("<int:pk>/new-draft/", policies.NewDraftView.as_view(), name="policy-new-draft"),
    path("versions/<int:pk>/", versions.VersionDetailView.as_view(), name="policy-version"),
    path("versions/<int:pk>/edit/", versions.VersionEditView.as_view(), name="policy-version-edit"),
    path("versions/<int:pk>/<slug:op>/", versions.VersionActionView.as_view(), name="policy-version-action"),
    path("whatif/<int:pk>/", versions.WhatIfReportView.as_view(), name="policy-whatif"),
    path("waivers/", waivers.WaiverListView.as_view(), name="waiver-list"),
    path("waivers/new/", waivers.WaiverCreateView.as_view(), name="waiver-create"),
    path("waivers/<int:pk>/", waivers.WaiverDetailView.as_view(), name="waiver-detail"),
    path("waivers/<int:pk>/<slug:op>/", waivers.WaiverActionView.as_view(), name="waiver-action"),
]
