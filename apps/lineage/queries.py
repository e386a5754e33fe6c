"""Read side of the graph for the API and the UI: neighbourhoods (up, down or both, a depth limit,
pages), impact (everything downstream, grouped by kind), columns. Only what the user may see is
described; paths through hidden nodes become ``indirect`` edges."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse

from apps.catalog.models import Asset, AssetKind
from apps.core import sql
from apps.core.permissions import ALL, projects_with_perm

from . import graph
from .models import DatasetField, Job, Run, RunIO

DIRECTIONS = {"upstream": ("up",), "downstream": ("down",), "both": ("up", "down"),
              "up": ("up",), "down": ("down",)}
NODE_TYPES = ("asset", "dataset", "model", "fine_tune", "job", "run", "column")


@dataclass
class Root:
    type: str  # asset | job | run | column
    key: str  # "asset:12"
    seeds: dict[str, list[int]]  # direction → graph nodes to walk from
    start_depth: int
    columns: bool
    node: dict[str, Any]
    extra_edges: list[dict[str, Any]]


def _asset_node(a: Asset) -> dict[str, Any]:
    return {
        "id": f"asset:{a.pk}", "type": "asset", "kind": a.kind, "name": a.name, "namespace": a.namespace,
        "project": a.project.slug, "classification": a.classification,
        "residency": {"storage": a.storage_jurisdiction_id, "processing": a.processing_jurisdictions,
                      "source": a.residency_source, "known": a.residency_known},
        "url": reverse("asset-detail", args=[a.pk]),
    }


def _job_node(j: Job) -> dict[str, Any]:
    return {"id": f"job:{j.pk}", "type": "job", "kind": "job", "name": j.name, "namespace": j.namespace,
            "project": j.project.slug, "job_type": j.job_type, "url": reverse("lineage-job", args=[j.pk])}


def _column_node(f: DatasetField) -> dict[str, Any]:
    return {"id": f"column:{f.pk}", "type": "column", "kind": "column", "name": f.name, "data_type": f.data_type,
            "asset": f"asset:{f.asset_id}", "asset_name": f.asset.name, "namespace": f.asset.namespace,
            "url": reverse("lineage-columns", args=[f.asset_id])}


def resolve_root(user: Any, ref: str) -> Root:
    """``asset:12`` (or dataset:/model:/fine_tune:), ``job:3``, ``run:<uuid or id>``, ``column:7``; 404 if not visible."""
    kind, _, value = (ref or "").partition(":")
    if kind not in NODE_TYPES or not value:
        raise ValidationError({"node": f"Name a node as <type>:<id> with type one of {', '.join(NODE_TYPES)}."})
    try:
        if kind in ("asset", "dataset", "model", "fine_tune"):
            asset = Asset.objects.restrict(user, "view").select_related("project").get(pk=int(value))
            return Root("asset", f"asset:{asset.pk}", {"up": [asset.pk], "down": [asset.pk]}, 0, False, _asset_node(asset), [])
        if kind == "job":
            job = Job.objects.restrict(user, "view").select_related("project").get(pk=int(value))
            return Root("job", f"job:{job.pk}", {"up": [-job.pk], "down": [-job.pk]}, 0, False, _job_node(job), [])
        if kind == "column":
            column = DatasetField.objects.restrict(user, "view").select_related("asset").get(pk=int(value))
            return Root("column", f"column:{column.pk}", {"up": [column.pk], "down": [column.pk]}, 0, True, _column_node(column), [])
        runs = Run.objects.restrict(user, "view").select_related("job", "job__project")
        run = runs.get(run_uuid=uuid.UUID(value)) if "-" in value else runs.get(pk=int(value))
    except (ValueError, Asset.DoesNotExist, Job.DoesNotExist, DatasetField.DoesNotExist, Run.DoesNotExist, Run.MultipleObjectsReturned):
        raise Http404 from None
    io = list(RunIO.objects.filter(run=run).values_list("asset_id", "direction"))
    key = f"run:{run.run_uuid}"
    node = {"id": key, "type": "run", "kind": "run", "name": str(run.run_uuid), "namespace": run.job.namespace,
            "project": run.job.project.slug, "state": run.state, "job": f"job:{run.job_id}",
            "url": reverse("lineage-job", args=[run.job_id])}
    edges = [{"source": f"asset:{a}", "target": key, "kind": "run_input"} for a, d in io if d == "in"]
    edges += [{"source": key, "target": f"asset:{a}", "kind": "run_output"} for a, d in io if d == "out"]
    return Root("run", key, {"up": [a for a, d in io if d == "in"], "down": [a for a, d in io if d == "out"]}, 1, False, node, edges)


def _visible(user: Any, projects: dict[int, int | None], columns: bool) -> set[int]:
    """The reached nodes the user may see: the rule of ``RestrictedQuerySet.restrict`` (projects
    where the user's roles grant ``view``), applied to the project each node came back with."""
    assets = projects_with_perm(user, "catalog.view_asset")
    jobs = assets if columns else projects_with_perm(user, "lineage.view_job")

    def allowed(node: int, project: int | None) -> bool:
        scope = assets if columns or node > 0 else jobs
        return project is not None and (scope == ALL or project in scope)

    return {node for node, project in projects.items() if allowed(node, project)}


ASSET_FIELDS = ("id", "kind", "name", "namespace", "project__slug", "classification", "storage_jurisdiction_id",
                "processing_jurisdictions", "residency_source")


def _asset_values(a: dict[str, Any]) -> dict[str, Any]:
    known = a["storage_jurisdiction_id"] is not None and bool(a["processing_jurisdictions"])
    return {
        "id": f"asset:{a['id']}", "type": "asset", "kind": a["kind"], "name": a["name"], "namespace": a["namespace"],
        "project": a["project__slug"], "classification": a["classification"],
        "residency": {"storage": a["storage_jurisdiction_id"], "processing": a["processing_jurisdictions"],
                      "source": a["residency_source"], "known": known},
        "url": _url("asset-detail", a["id"]),
    }


def _url(name: str, pk: int) -> str:
    """``reverse(name, args=[pk])`` without resolving the pattern for every node of a page."""
    template = _URLS.get(name)
    if template is None:
        template = _URLS[name] = reverse(name, args=[987654321]).replace("987654321", "{}")
    return template.format(pk)


_URLS: dict[str, str] = {}


def _job_values(j: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"job:{j['id']}", "type": "job", "kind": "job", "name": j["name"], "namespace": j["namespace"],
            "project": j["project__slug"], "job_type": j["job_type"], "url": _url("lineage-job", j["id"])}


_ASSETS = """SELECT a.id, a.kind, a.name, a.namespace, p.slug, a.classification, a.storage_jurisdiction_id,
                    a.processing_jurisdictions, a.residency_source
             FROM catalog_asset a JOIN accounts_project p ON p.id = a.project_id WHERE a.id = ANY(%s::bigint[])"""
_JOBS = """SELECT j.id, j.name, j.namespace, p.slug, j.job_type FROM lineage_job j JOIN accounts_project p ON p.id = j.project_id
           WHERE j.id = ANY(%s::bigint[])"""
_EDGES = """SELECT src, dst, origin FROM lineage_graph_edge WHERE src = ANY(%s::bigint[])
            UNION SELECT src, dst, origin FROM lineage_graph_edge WHERE dst = ANY(%s::bigint[])"""


Described = dict[int, dict[str, Any]]


def _describe_page(user: Any, page: list[int], known: set[int], columns: bool, with_edges: bool) -> tuple[Described, list[tuple[int, int, str]]]:
    """Descriptions of one page of (visible) nodes and, unless ``with_edges`` is False, the edges
    between them and the rest of the known nodes: one round trip."""
    if columns:
        described = {f.pk: _column_node(f) for f in DatasetField.objects.filter(pk__in=page).select_related("asset")}
        return described, graph.edges_touching(set(page), known, columns=True) if with_edges else []
    assets = [n for n in page if n > 0]
    jobs = [-n for n in page if n < 0]
    asset_rows, job_rows, edge_rows = sql.pipelined([(_ASSETS, [assets]), (_JOBS, [jobs]), (_EDGES, [page, page] if with_edges else [[], []])])
    fields = ("id", "kind", "name", "namespace", "project__slug", "classification", "storage_jurisdiction_id",
              "processing_jurisdictions", "residency_source")
    described = {row[0]: _asset_values(dict(zip(fields, row, strict=True))) for row in asset_rows}
    described.update({-row[0]: _job_values(dict(zip(("id", "name", "namespace", "project__slug", "job_type"), row, strict=True)))
                      for row in job_rows})
    ends = set(page) | known
    return described, sorted({(s, d, o) for s, d, o in edge_rows if s in ends and d in ends})


def _key(node: int, columns: bool) -> str:
    return f"column:{node}" if columns else graph.node_key(node)


def _type_rank(node: int, columns: bool) -> int:
    return 0 if columns or node > 0 else 1  # assets before jobs at the same depth


def neighbourhood(user: Any, ref: str, direction: str = "both", depth: int = 3, limit: int = 200, offset: int = 0) -> dict[str, Any]:
    if direction not in DIRECTIONS:
        raise ValidationError({"direction": "Use upstream, downstream or both."})
    if not 1 <= depth <= graph.MAX_DEPTH:
        raise ValidationError({"depth": f"Between 1 and {graph.MAX_DEPTH}."})
    root = resolve_root(user, ref)
    reached: dict[int, tuple[int, str]] = {}  # node → (depth, direction)
    projects: dict[int, int | None] = {}
    truncated = False
    for way in DIRECTIONS[direction]:
        seeds = root.seeds[way]
        label = "upstream" if way == "up" else "downstream"
        if root.type == "run":
            seed_projects = dict(Asset.objects.filter(pk__in=seeds).values_list("pk", "project_id"))
            for node in seeds:
                reached.setdefault(node, (root.start_depth, label))
                projects.setdefault(node, seed_projects.get(node))
        found = graph.walk(seeds, way, depth - root.start_depth, columns=root.columns, start_depth=root.start_depth)
        truncated = truncated or found.truncated
        for node, d in found.depths.items():
            reached.setdefault(node, (d, label))
            projects.setdefault(node, found.projects[node])
    root_ids = set() if root.type == "run" else set(root.seeds["down"])
    for node in root_ids:
        reached.pop(node, None)  # a cycle back to the root: the root is not its own neighbour
        projects.pop(node, None)
    visible = _visible(user, projects, root.columns)
    order = sorted(visible, key=lambda n: (reached[n][0], _type_rank(n, root.columns), abs(n)))
    page = order[offset:offset + limit]
    known = visible | root_ids
    hidden = len(visible) < len(reached)
    described, edges = _describe_page(user, page, known, root.columns, with_edges=not hidden)
    if hidden:  # bridge the paths through hidden nodes
        edges = graph.collapse_hidden(graph.edges_among(set(reached) | root_ids, columns=root.columns), known)
    page_set = set(page) | (root_ids if offset == 0 else set())
    edge_list = [{"source": _key(s, root.columns), "target": _key(d, root.columns), "kind": kind}
                 for s, d, kind in edges if s in page_set or d in page_set]
    if offset == 0:  # a run's own edges to its inputs and outputs, those the user may see
        shown = {_key(n, root.columns) for n in visible}
        own = [e for e in root.extra_edges if (e["source"] if e["target"] == root.key else e["target"]) in shown]
        edge_list = own + edge_list
    return {
        "root": root.node, "direction": direction, "depth": depth, "count": len(order), "offset": offset, "limit": limit,
        "next_offset": offset + limit if offset + limit < len(order) else None, "truncated": truncated,
        "nodes": [{**described[n], "depth": reached[n][0], "direction": reached[n][1]} for n in page if n in described],
        "edges": edge_list,
    }


IMPACT_GROUPS = {AssetKind.DATASET: "datasets", AssetKind.MODEL: "models", AssetKind.FINE_TUNE: "fine_tunes"}


def impact(user: Any, asset_id: int, depth: int = graph.MAX_DEPTH, limit: int = 500) -> dict[str, Any]:
    """Everything downstream of an asset, grouped by kind (datasets, models, fine-tunes, jobs)."""
    root = resolve_root(user, f"asset:{asset_id}")
    found = graph.walk([asset_id], "down", depth)
    visible = sorted(_visible(user, found.projects, False))
    described = {}
    for start in range(0, len(visible), 2000):
        described.update(_describe_page(user, visible[start:start + 2000], set(), False, with_edges=False)[0])
    groups: dict[str, list[dict[str, Any]]] = {"datasets": [], "models": [], "fine_tunes": [], "jobs": []}
    for node in sorted(described, key=lambda n: (found.depths[n], abs(n))):
        item = {**described[node], "depth": found.depths[node]}
        groups["jobs" if node < 0 else IMPACT_GROUPS[item["kind"]]].append(item)
    return {"asset": root.node, "depth": depth, "truncated": found.truncated,
            "counts": {name: len(items) for name, items in groups.items()},
            **{name: items[:limit] for name, items in groups.items()}}
