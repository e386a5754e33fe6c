from django.urls import path

from .views import jobs

urlpatterns = [
    path("", jobs.JobQueueView.as_view(), name="job-list"),
    path("<int:pk>/", jobs.JobDetailView.as_view(), name="job-detail"),
    path("<int:pk>/<slug:op>/", jobs.JobActionView.as_view(), name="job-action"),
]
