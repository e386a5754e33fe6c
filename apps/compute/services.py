from __future__ import annotations

from typing import Any

from apps.core import services as core

from .models import ComputeCluster


def create_cluster(fields: dict[str, Any]) -> ComputeCluster:
    return core.create(ComputeCluster, fields)


def update_cluster(cluster: ComputeCluster, fields: dict[str, Any], *, if_match: str | None = None) -> ComputeCluster:
    return core.update(cluster, fields, if_match=if_match)
