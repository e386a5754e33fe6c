"""Policy UI: every view goes through apps.core.mixins.RestrictedViewMixin (via the web base views)."""
