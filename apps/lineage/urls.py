"""Lineage pages (the asset page's graph and constraints panel is templates/lineage/_asset_panel.html)."""

from django.urls import path

from . import views

urlpatterns = [
    path("jobs/", views.JobListView.as_view(), name="lineage-jobs"),
    path("jobs/<int:pk>/", views.JobDetailView.as_view(), name="lineage-job"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="lineage-run"),
    path("assets/<int:pk>/columns/", views.ColumnLineageView.as_view(), name="lineage-columns"),
]
