"""Jobs: found or created by (project, namespace, name); their facets applied when they change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection

from .context import IngestContext
from .normalize import APPLIED_JOB_FACETS, Event, facets_digest
from .store import jsonb


@dataclass
class JobRow:
    id: int
    facets_digest: str


def _facets_summary(facets: dict[str, Any]) -> dict[str, Any]:
    def get(key: str) -> dict[str, Any]:
        value = facets.get(key)
        return value if isinstance(value, dict) else {}

    job_type = get("jobType")
    return {
        "description": str(get("documentation").get("description", "")),
        "job_type": " · ".join(str(job_type[k]) for k in ("processingType", "integration", "jobType") if job_type.get(k))[:200],
        "owners": [o for o in get("ownership").get("owners") or [] if isinstance(o, dict)],
        "source_code_location": str(get("sourceCodeLocation").get("url", "")),
        "sql": str(get("sql").get("query", "")),
    }


def ensure_jobs(events: list[Event], found: dict[tuple[str, str], tuple[int, str]], ctx: IngestContext) -> dict[tuple[str, str], int]:
    """{(namespace, name): job id} for the jobs of these events (``found`` by the lookup), creating
    missing ones and updating the description, type, owners, code location and SQL of those whose
    facets changed (both rare: most events repeat a known job with the same facets)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        if event.has_job:
            applied = {k: event.job_facets[k] for k in APPLIED_JOB_FACETS if k in event.job_facets}
            key = (event.job_namespace, event.job_name)
            if applied or key not in latest:
                latest[key] = applied
    ids = {key: found[key][0] for key in latest if key in found}
    missing = sorted(k for k in latest if k not in found)
    changed = sorted(k for k in latest if k in found and latest[k] and facets_digest(latest[k]) != found[k][1])  # lock order
    if not missing and not changed:
        return ids
    with connection.cursor() as cur:
        if missing:
            _register_namespaces(cur, {k[0] for k in missing}, ctx, jobs=True)
            summaries = [_facets_summary(latest[k]) for k in missing]
            cur.execute(
                """INSERT INTO lineage_job (project_id, namespace, name, description, job_type, owners, source_code_location,
                                            sql, facets, facets_digest, created_at, updated_at)
                   SELECT %s, ns, nm, d, t, o::jsonb, s, q, f::jsonb, g, %s, %s
                   FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                               %s::text[], %s::text[]) AS x(ns, nm, d, t, o, s, q, f, g)
                   ON CONFLICT (project_id, namespace, name) DO NOTHING""",
                [ctx.project_id, ctx.now, ctx.now, [k[0] for k in missing], [k[1] for k in missing],
                 [s["description"] for s in summaries], [s["job_type"] for s in summaries], [jsonb(s["owners"]) for s in summaries],
                 [s["source_code_location"] for s in summaries], [s["sql"] for s in summaries],
                 [jsonb(latest[k]) for k in missing], [facets_digest(latest[k]) if latest[k] else "" for k in missing]],
            )
            cur.execute(
                """SELECT j.namespace, j.name, j.id FROM lineage_job j
                   JOIN unnest(%s::text[], %s::text[]) AS k(ns, nm) ON j.namespace = k.ns AND j.name = k.nm
                   WHERE j.project_id = %s""",
                [[k[0] for k in missing], [k[1] for k in missing], ctx.project_id],
            )
            ids.update({(ns, nm): i for ns, nm, i in cur.fetchall()})
        for key in changed:
            applied, summary = latest[key], _facets_summary(latest[key])
            cur.execute(
                """UPDATE lineage_job SET description = %s, job_type = %s, owners = %s::jsonb, source_code_location = %s,
                          sql = %s, facets = %s::jsonb, facets_digest = %s, updated_at = %s WHERE id = %s""",
                [summary["description"], summary["job_type"], jsonb(summary["owners"]), summary["source_code_location"],
                 summary["sql"], jsonb(applied), facets_digest(applied), ctx.now, ids[key]],
            )
    return ids


def _register_namespaces(cur: Any, names: set[str], ctx: IngestContext, *, jobs: bool = False, datasets: bool = False) -> None:
    ordered = sorted(names)
    cur.execute(
        """INSERT INTO lineage_namespace (name, has_jobs, has_datasets, first_seen)
           SELECT n, %s, %s, %s FROM unnest(%s::text[]) AS x(n)
           ON CONFLICT (name) DO UPDATE SET has_jobs = lineage_namespace.has_jobs OR EXCLUDED.has_jobs,
                                            has_datasets = lineage_namespace.has_datasets OR EXCLUDED.has_datasets
           WHERE (NOT lineage_namespace.has_jobs AND EXCLUDED.has_jobs) OR (NOT lineage_namespace.has_datasets AND EXCLUDED.has_datasets)""",
        [jobs, datasets, ctx.now, ordered],
    )


def register_dataset_namespaces(names: set[str], ctx: IngestContext) -> None:
    if names:
        with connection.cursor() as cur:
            _register_namespaces(cur, names, ctx, datasets=True)
