from django.urls import path

from . import views

urlpatterns = [
    path("clusters/", views.ClusterUsageView.as_view(), name="dispatch-clusters"),
    path("jobs/<int:pk>/", views.JobDispatchView.as_view(), name="dispatch-job"),
    path("budgets/<slug:slug>/", views.BudgetView.as_view(), name="dispatch-budget"),
]
