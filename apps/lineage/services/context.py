"""What one ingestion call knows about who is writing where."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.core.exceptions import PermissionDenied

from apps.core.permissions import has_perm


@dataclass
class IngestContext:
    project_id: int  # the project the events are written into
    user: Any  # the authenticated account (service account or person)
    now: dt.datetime
    project_slug: str = ""
    changed_nodes: set[int] = field(default_factory=set)  # graph nodes whose upstream changed
    _perms: dict[tuple[str, int | None], bool] = field(default_factory=dict)

    @cached_property
    def project(self) -> Any:
        """The Project row, for the rare path (creating assets and consents)."""
        from apps.accounts.models import Project

        return Project.objects.get(pk=self.project_id)

    def may(self, perm: str, project_id: int | None) -> bool:
        key = (perm, project_id)
        if key not in self._perms:
            self._perms[key] = has_perm(self.user, perm, project_id)
        return self._perms[key]

    def require_add_asset(self, what: str) -> None:
        if not self.may("catalog.add_asset", self.project_id):
            raise PermissionDenied(f"{what}: your role may not register new assets in project {self.project.slug}.")

    @property
    def actor_id(self) -> int | None:
        return getattr(self.user, "pk", None)
