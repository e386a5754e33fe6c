"""Small helpers shared by the web tests."""

from __future__ import annotations

from apps.audit.models import AuditEvent


def audit_writes() -> int:
    """Audit events other than sign-ins (``login(user)`` in a test records one)."""
    return AuditEvent.objects.exclude(action__startswith="accounts.user.login").count()
