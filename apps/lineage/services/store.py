"""The hot path's two round trips: one pipelined lookup (events already stored, jobs, assets) and
one statement that writes everything else (raw events, runs and their transitions, run inputs and
outputs, graph edges) with data-modifying CTEs. Rows are sorted by key so that concurrent writers
take row locks in the same order. Both are prepared statements: planning the write's CTEs cost
more than running them for a single event."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from apps.core import sql

from ..models.graph import STATE_FOR_EVENT, TERMINAL_EVENTS
from ..validation.formats import parse_datetime
from .context import IngestContext
from .normalize import Event, canonical_json


@dataclass
class Lookup:
    raw: dict[bytes, int] = field(default_factory=dict)  # digest → id of events stored before
    jobs: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)  # (ns, name) → (id, facets digest)
    assets: dict[tuple[str, str], tuple[int, str, int, str]] = field(default_factory=dict)  # → (id, kind, project, meta digest)


def _keys(keys: set[tuple[str, str]]) -> tuple[list[str], list[str]]:
    ordered = sorted(keys)
    return [k[0] for k in ordered], [k[1] for k in ordered]


def lookup(events: list[Event], asset_keys: set[tuple[str, str]], ctx: IngestContext) -> Lookup:
    job_ns, job_names = _keys({(e.job_namespace, e.job_name) for e in events if e.has_job})
    ns, names = _keys(asset_keys)
    raw, jobs, assets = sql.pipelined([
        ("SELECT digest, id FROM lineage_rawevent WHERE digest = ANY(%s::bytea[])", [[e.digest for e in events]]),
        ("""SELECT j.namespace, j.name, j.id, j.facets_digest FROM lineage_job j
            JOIN unnest(%s::text[], %s::text[]) AS k(ns, nm) ON j.namespace = k.ns AND j.name = k.nm WHERE j.project_id = %s""",
         [job_ns, job_names, ctx.project_id]),
        ("""SELECT a.namespace, a.name, a.id, a.kind, a.project_id, COALESCE(m.facets_digest, '') FROM catalog_asset a
            JOIN unnest(%s::text[], %s::text[]) AS k(ns, nm) ON a.namespace = k.ns AND a.name = k.nm
            LEFT JOIN lineage_datasetmeta m ON m.asset_id = a.id""", [ns, names]),
    ], prepare=True)
    return Lookup(raw={bytes(d): i for d, i in raw}, jobs={(a, b): (i, d) for a, b, i, d in jobs},
                  assets={(a, b): (i, k, p, d) for a, b, i, k, p, d in assets})


def aliases(keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str, int, str]]:
    ns, names = _keys(keys)
    found = sql.rows("""SELECT al.namespace, al.name, a.id, a.kind, a.project_id, COALESCE(m.facets_digest, '')
                        FROM lineage_datasetalias al
                        JOIN unnest(%s::text[], %s::text[]) AS k(ns, nm) ON al.namespace = k.ns AND al.name = k.nm
                        JOIN catalog_asset a ON a.id = al.asset_id LEFT JOIN lineage_datasetmeta m ON m.asset_id = a.id""", [ns, names])
    return {(a, b): (i, k, p, d) for a, b, i, k, p, d in found}


ASSET_LOCK = 0x6C696E  # advisory lock class of "facets of this asset are being applied"


def lock_assets(asset_ids: list[int]) -> None:
    if asset_ids:
        sql.rows("SELECT pg_advisory_xact_lock(%s, (id %% 2147483647)::int) FROM unnest(%s::bigint[]) AS x(id) ORDER BY id",
                 [ASSET_LOCK, sorted(asset_ids)])


# --- runs: one aggregate per (job, run) and batch, folded like the SQL upsert folds them ------------

_STATE_RANK = {"RUNNING": 0, "COMPLETED": 1, "ABORTED": 1, "FAILED": 1}


def _facet(facets: dict[str, Any], key: str) -> dict[str, Any]:
    value = facets.get(key)
    return value if isinstance(value, dict) else {}


def _run_facts(event: Event) -> dict[str, Any]:
    facets = event.run_facets
    state = STATE_FOR_EVENT.get(event.event_type)
    nominal, parent, error = _facet(facets, "nominalTime"), _facet(facets, "parent"), _facet(facets, "errorMessage")
    parent_run = _facet(parent, "run").get("runId")
    parent_job = _facet(parent, "job")
    return {
        "state": state.value if state else None, "state_time": event.event_time if state else None,
        "started": event.event_time if event.event_type in ("START", "RUNNING") else None,
        "ended": event.event_time if event.event_type in TERMINAL_EVENTS else None,
        "nominal_start": parse_datetime(nominal.get("nominalStartTime", "")),
        "nominal_end": parse_datetime(nominal.get("nominalEndTime", "")),
        "parent_run": uuid.UUID(parent_run) if isinstance(parent_run, str) else None,
        "parent_job": f"{parent_job.get('namespace', '')}/{parent_job.get('name', '')}" if parent_job else "",
        "error": str(error.get("message", ""))[:10_000],
    }


def _fold(acc: dict[str, Any], facts: dict[str, Any], facets: dict[str, Any]) -> None:
    if facts["state"] and (acc["state_time"] is None or facts["state_time"] > acc["state_time"] or (
            facts["state_time"] == acc["state_time"] and _STATE_RANK[facts["state"]] >= _STATE_RANK.get(acc["state"], 0))):
        acc["state"], acc["state_time"] = facts["state"], facts["state_time"]
    for key, pick in (("started", min), ("ended", max)):
        if facts[key] is not None:
            acc[key] = facts[key] if acc[key] is None else pick(acc[key], facts[key])
    for key in ("nominal_start", "nominal_end", "parent_run", "parent_job", "error"):
        acc[key] = facts[key] or acc[key]
    acc["facets"].update(facets)


def _runs(events: list[Event], job_ids: dict[tuple[str, str], int]) -> dict[tuple[int, uuid.UUID], dict[str, Any]]:
    agg: dict[tuple[int, uuid.UUID], dict[str, Any]] = {}
    for event in events:
        if event.kind == "run":
            key = (job_ids[(event.job_namespace, event.job_name)], event.run_uuid)
            acc = agg.setdefault(key, {"state": None, "state_time": None, "started": None, "ended": None, "nominal_start": None,
                                       "nominal_end": None, "parent_run": None, "parent_job": "", "error": "", "facets": {}})
            _fold(acc, _run_facts(event), event.run_facets)
    return agg


_TERMINAL = "('COMPLETED', 'ABORTED', 'FAILED')"
_NEWER = (f"(EXCLUDED.state_time IS NOT NULL AND (lineage_run.state_time IS NULL OR EXCLUDED.state_time > lineage_run.state_time"
          f" OR (EXCLUDED.state_time = lineage_run.state_time AND EXCLUDED.state IN {_TERMINAL})))")

# Only constants are interpolated into WRITE; every value is a parameter.
WRITE = f"""
WITH ev AS (
    SELECT decode(e.d, 'hex') AS digest, e.k AS kind, e.t AS etype, e.et AS etime, e.p AS producer, e.s AS schema_url,
           e.r AS run_uuid, e.jn AS jns, e.jm AS jname, e.pl AS payload, e.j AS job_id
    FROM json_to_recordset(%(events)s::json)
         AS e(d text, k text, t text, et timestamptz, p text, s text, r uuid, jn text, jm text, j bigint, pl jsonb)
), raw AS (
    INSERT INTO lineage_rawevent (project_id, digest, kind, event_type, event_time, received_at, producer, schema_url, run_uuid,
                                  job_namespace, job_name, submitted_by_id, payload)
    SELECT %(project)s, digest, kind, etype, etime, %(now)s, producer, schema_url, run_uuid, jns, jname, %(actor)s, payload
    FROM ev ORDER BY digest
    ON CONFLICT (digest) DO NOTHING
    RETURNING id, digest
), fresh AS (
    SELECT ev.digest, ev.etype, ev.etime, ev.run_uuid, ev.job_id, raw.id AS raw_id FROM ev JOIN raw ON raw.digest = ev.digest
), runs AS (
    INSERT INTO lineage_run (job_id, run_uuid, state, state_time, started_at, ended_at, nominal_start, nominal_end,
                             parent_run_uuid, parent_job, error_message, facets, created_at, updated_at)
    SELECT r.j, r.u, COALESCE(r.s, 'NEW'), r.st, r.sa, r.ea, r.ns, r.ne, r.pr, r.pj, r.er, COALESCE(r.f, '{{}}'), %(now)s, %(now)s
    FROM json_to_recordset(%(runs)s::json) AS r(j bigint, u uuid, s text, st timestamptz, sa timestamptz, ea timestamptz,
                                                 ns timestamptz, ne timestamptz, pr uuid, pj text, er text, f jsonb)
    WHERE EXISTS (SELECT 1 FROM fresh WHERE fresh.job_id = r.j AND fresh.run_uuid = r.u)
    ORDER BY r.j, r.u
    ON CONFLICT (job_id, run_uuid) DO UPDATE SET
        state = CASE WHEN {_NEWER} THEN EXCLUDED.state ELSE lineage_run.state END,
        state_time = CASE WHEN {_NEWER} THEN EXCLUDED.state_time ELSE lineage_run.state_time END,
        started_at = LEAST(lineage_run.started_at, EXCLUDED.started_at),
        ended_at = GREATEST(lineage_run.ended_at, EXCLUDED.ended_at),
        nominal_start = COALESCE(EXCLUDED.nominal_start, lineage_run.nominal_start),
        nominal_end = COALESCE(EXCLUDED.nominal_end, lineage_run.nominal_end),
        parent_run_uuid = COALESCE(EXCLUDED.parent_run_uuid, lineage_run.parent_run_uuid),
        parent_job = CASE WHEN EXCLUDED.parent_job <> '' THEN EXCLUDED.parent_job ELSE lineage_run.parent_job END,
        error_message = CASE WHEN EXCLUDED.error_message <> '' THEN EXCLUDED.error_message ELSE lineage_run.error_message END,
        facets = lineage_run.facets || EXCLUDED.facets,
        updated_at = EXCLUDED.updated_at
    RETURNING id, job_id, run_uuid
), transitions AS (
    INSERT INTO lineage_runtransition (run_id, event_type, event_time, raw_event_id)
    SELECT runs.id, fresh.etype, fresh.etime, fresh.raw_id
    FROM fresh JOIN runs ON runs.job_id = fresh.job_id AND runs.run_uuid = fresh.run_uuid
    ORDER BY runs.id, fresh.raw_id
), io AS (
    INSERT INTO lineage_runio (run_id, asset_id, direction)
    SELECT DISTINCT runs.id, x.asset, x.dir
    FROM json_to_recordset(%(io)s::json) AS x(d text, asset bigint, dir text)
    JOIN fresh ON fresh.digest = decode(x.d, 'hex') JOIN runs ON runs.job_id = fresh.job_id AND runs.run_uuid = fresh.run_uuid
    ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
), edges AS (
    INSERT INTO lineage_edge (src, dst, first_seen, first_event_id)
    SELECT DISTINCT ON (x.src, x.dst) x.src, x.dst, %(now)s, fresh.raw_id
    FROM json_to_recordset(%(edges)s::json) AS x(d text, src bigint, dst bigint)
    JOIN fresh ON fresh.digest = decode(x.d, 'hex')
    ORDER BY x.src, x.dst, fresh.raw_id
    ON CONFLICT DO NOTHING
    RETURNING src, dst
)
SELECT 0, raw_id, NULL::bigint, digest FROM fresh
UNION ALL
SELECT 1, src, dst, NULL::bytea FROM edges
"""  # noqa: S608


@dataclass
class Written:
    raw_ids: dict[bytes, int]
    new_edges: list[tuple[int, int]]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def write(events: list[Event], job_ids: dict[tuple[str, str], int], io: list[tuple[bytes, int, str]],
          edges: list[tuple[bytes, int, int]], ctx: IngestContext) -> Written:
    """Everything of these events in one statement; events stored meanwhile by someone else are skipped."""
    runs = _runs(events, job_ids)
    dumps = json.dumps
    event_rows = []
    for e in events:
        row = dumps({"d": e.digest.hex(), "k": e.kind, "t": e.event_type, "et": e.event_time.isoformat(), "p": e.producer,
                     "s": e.schema_url, "r": str(e.run_uuid) if e.run_uuid else None, "jn": e.job_namespace, "jm": e.job_name,
                     "j": job_ids[(e.job_namespace, e.job_name)] if e.has_job else None})
        event_rows.append(row[:-1] + ',"pl":' + e.canonical + "}")  # the payload goes in as the JSON it already is
    run_rows = []
    for (job, run_uuid), r in sorted(runs.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        row = dumps({"j": job, "u": str(run_uuid), "s": r["state"], "st": _iso(r["state_time"]), "sa": _iso(r["started"]),
                     "ea": _iso(r["ended"]), "ns": _iso(r["nominal_start"]), "ne": _iso(r["nominal_end"]),
                     "pr": str(r["parent_run"]) if r["parent_run"] else None, "pj": r["parent_job"], "er": r["error"]})
        run_rows.append(row[:-1] + ',"f":' + canonical_json(r["facets"]) + "}")
    params = {
        "project": ctx.project_id, "now": ctx.now, "actor": ctx.actor_id,
        "events": "[" + ",".join(event_rows) + "]", "runs": "[" + ",".join(run_rows) + "]",
        "io": dumps([{"d": d.hex(), "asset": a, "dir": x} for d, a, x in io]),
        "edges": dumps([{"d": d.hex(), "src": a, "dst": b} for d, a, b in edges]),
    }
    result = Written({}, [])
    for kind, a, b, digest in sql.rows(WRITE, params, prepare=True):
        if kind == 0:
            result.raw_ids[bytes(digest)] = a
        else:
            result.new_edges.append((a, b))
    return result


jsonb = sql.jsonb
