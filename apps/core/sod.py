"""Separation of duties: the person who asks for something may not be the one who approves it.

``RequesterApproverMixin`` gives a model ``requested_by``/``approved_by`` with a database check
that they differ; ``ensure_separate`` is the same rule for services, with a clear message."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class SeparationOfDutiesError(ValidationError):
    pass


def ensure_separate(requester: Any, approver: Any, what: str = "this") -> None:
    req_id = getattr(requester, "pk", requester)
    app_id = getattr(approver, "pk", approver)
    if req_id is None or app_id is None:
        raise SeparationOfDutiesError(f"Approving {what} needs both a requester and an approver.")
    if req_id == app_id:
        raise SeparationOfDutiesError(f"The person who requested {what} may not approve it.")
    owner_id = getattr(requester, "owner_id", None)
    if owner_id is not None and owner_id == app_id:
        # A service account acts for its owner: the owner approving it is self-approval.
        raise SeparationOfDutiesError(f"The owner of the requesting service account may not approve {what}.")


class RequesterApproverMixin(models.Model):
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def separation_constraint(cls, name: str) -> models.CheckConstraint:
        """Add to a concrete model's Meta.constraints: the database refuses self-approval."""
        return models.CheckConstraint(
            name=name,
            condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by")),
        )

    def clean(self) -> None:
        super().clean()
        if self.approved_by_id is not None:
            ensure_separate(self.requested_by, self.approved_by)
