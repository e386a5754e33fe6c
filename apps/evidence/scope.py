"""What an export covers: a time range, optionally a project, or an asset with everything
upstream of it. ``upstream_asset_ids`` is the one place that knows what "upstream" means; the
lineage graph will replace its body."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from apps.catalog.models import Asset, DatasetVersion
from apps.core.permissions import ALL


def upstream_asset_ids(asset_id: int) -> set[int]:
    """The asset and everything upstream of it in the lineage graph (which includes the
    catalog's own links: a fine-tune's base-model chain and training datasets)."""
    from apps.lineage.graph import upstream_assets

    return {asset_id} | set(upstream_assets(asset_id))


@dataclass
class Scope:
    since: dt.datetime
    until: dt.datetime
    project_id: int | None = None
    asset_id: int | None = None
    asset_ids: set[int] = field(default_factory=set)  # the asset and its upstream (visible ones)
    withheld_asset_ids: set[int] = field(default_factory=set)  # upstream the requester may not export
    version_ids: set[int] = field(default_factory=set)
    consent_ids: set[int] = field(default_factory=set)

    def sql(self, alias: str = "e") -> tuple[str, dict[str, Any]]:
        """A WHERE fragment selecting the in-scope events of ``audit_auditevent AS alias``."""
        parts = [f"{alias}.occurred_at >= %(scope_since)s", f"{alias}.occurred_at < %(scope_until)s"]
        params: dict[str, Any] = {"scope_since": self.since, "scope_until": self.until}
        if self.project_id is not None:
            parts.append(f"{alias}.project_id = %(scope_project)s")
            params["scope_project"] = self.project_id
        if self.asset_id is not None:
            parts.append(
                f"(({alias}.object_type = 'catalog.asset' AND {alias}.object_id = ANY(%(scope_assets)s))"
                f" OR ({alias}.object_type = 'catalog.datasetversion' AND {alias}.object_id = ANY(%(scope_versions)s))"
                f" OR ({alias}.object_type = 'catalog.consentrecord' AND {alias}.object_id = ANY(%(scope_consents)s)))"
            )
            params.update(scope_assets=[str(i) for i in sorted(self.asset_ids)],
                          scope_versions=[str(i) for i in sorted(self.version_ids)],
                          scope_consents=[str(i) for i in sorted(self.consent_ids)])
        return " AND ".join(parts), params

    def assets(self):
        """The catalog assets the documents (RoPA, Annex IV) describe."""
        qs = Asset.objects.select_related("project", "consent", "storage_jurisdiction", "base_model")
        if self.asset_id is not None:
            return qs.filter(pk__in=self.asset_ids)
        if self.project_id is not None:
            return qs.filter(project_id=self.project_id)
        return qs.all()

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "project_id": self.project_id,
            "asset_id": self.asset_id,
            "upstream_asset_ids": sorted(self.asset_ids) if self.asset_id is not None else None,
            "withheld_asset_ids": sorted(self.withheld_asset_ids),
        }


def resolve(*, since: dt.datetime, until: dt.datetime, project_id: int | None, asset_id: int | None,
            exportable: str | set[int]) -> Scope:
    """The scope of an export; ``exportable`` is ``ALL`` or the project ids where the requester
    holds ``audit.export`` (upstream assets of other projects are withheld and named)."""
    scope = Scope(since=since, until=until, project_id=project_id, asset_id=asset_id)
    if asset_id is not None:
        ids = upstream_asset_ids(asset_id)
        projects = dict(Asset.objects.filter(pk__in=ids).values_list("pk", "project_id"))
        allowed = {i for i in ids if exportable == ALL or projects.get(i) in exportable}
        scope.asset_ids, scope.withheld_asset_ids = allowed, ids - allowed
        scope.version_ids = set(DatasetVersion.objects.filter(dataset_id__in=allowed).values_list("pk", flat=True))
        consents = set(Asset.objects.filter(pk__in=allowed, consent__isnull=False).values_list("consent_id", flat=True))
        consents |= set(DatasetVersion.objects.filter(pk__in=scope.version_ids, consent__isnull=False).values_list("consent_id", flat=True))
        scope.consent_ids = consents
    return scope
