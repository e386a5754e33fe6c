"""The compliance dashboard: figures over what the user may see, each linking to its list."""

from __future__ import annotations

from typing import Any

from django.views.generic import TemplateView

from apps.catalog.models import Asset
from apps.core.mixins import RestrictedViewMixin

from ..dashboard import dashboard_figures
from .base import SectionMixin


class DashboardView(SectionMixin, RestrictedViewMixin, TemplateView):
    model = Asset
    template_name = "web/dashboard.html"
    section = "dashboard"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        ctx = super().get_context_data(**kwargs)
        ctx["fig"] = dashboard_figures(self.request.user)
        return ctx
