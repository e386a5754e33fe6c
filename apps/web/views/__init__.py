"""UI views, one module per area. Every view that shows or changes govhub objects goes through
``apps.core.mixins.RestrictedViewMixin`` so it sees exactly what the API would show."""

from . import accounts, assets, audit, clusters, consents, dashboard, reference

__all__ = ["accounts", "assets", "audit", "clusters", "consents", "dashboard", "reference"]
