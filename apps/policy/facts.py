"""The facts a decision is made from, gathered from PostgreSQL into one JSON document (the input
document every rule — built-in or Rego — sees, and the snapshot stored with the decision).

This is the ONE module that depends on the lineage app: it reads each input's effective
constraints (``lineage_effectiveconstraint``), recomputes them on the spot with
``apps.lineage.constraints.compute`` when a row is missing or stale, and asks the lineage graph
what lies downstream of changed assets. Anything it cannot establish is listed under
``missing``, and the decision then denies (fail closed)."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from apps.catalog.models import ConsentStatus
from apps.catalog.models.jurisdictions import _bloc_members
from apps.core import sql
from apps.jobs.models import ACTIVE_ON_CLUSTER, Job, JobState

from . import cache
from .models import EvaluationStatus, JurisdictionLanguage, ModelEvaluation, TransferRule

log = logging.getLogger(__name__)

SCHEMA = 1
# Jobs whose estimated cost counts against the budget: reserved (awaiting approval, approved),
# on a cluster, or finished having used GPUs.
COMMITTED_STATES = (JobState.AWAITING_APPROVAL, JobState.APPROVED, *ACTIVE_ON_CLUSTER, JobState.SUCCEEDED,
                    JobState.FAILED, JobState.STOPPED)
# Jobs whose GPUs count against the concurrent quota: approved (about to start) or on a cluster.
GPU_STATES = (JobState.APPROVED, *ACTIVE_ON_CLUSTER)


def _constraint_table() -> str:
    from apps.lineage.models import EffectiveConstraint

    return EffectiveConstraint._meta.db_table


_INPUTS_SQL = """
SELECT a.id, a.name, a.namespace, a.kind, a.project_id, a.tags, a.contains_pii, a.storage_jurisdiction_id, a.updated_at,
       c.status, c.legal_basis, c.reference, c.valid_from, c.valid_until, c.updated_at,
       vc.status, vc.legal_basis, vc.reference, vc.valid_from, vc.valid_until, vc.updated_at,
       dv.id, dv.version, ec.jurisdictions, ec.purposes, ec.purposes_unrestricted, ec.classification, ec.flags,
       ec.explanation::text, ec.computed_at, {role}
FROM {source}
JOIN catalog_asset a ON a.id = {asset_col}
LEFT JOIN catalog_consentrecord c ON c.id = a.consent_id
LEFT JOIN catalog_datasetversion dv ON dv.id = {version_col}
LEFT JOIN catalog_consentrecord vc ON vc.id = dv.consent_id
LEFT JOIN {constraints} ec ON ec.asset_id = a.id
WHERE {where} ORDER BY {order}
"""


def _consent(status: str | None, basis: str | None, ref: str | None, start: Any, end: Any, now: dt.datetime) -> dict | None:
    if status is None:
        return None
    if status == ConsentStatus.WITHDRAWN:
        effective = ConsentStatus.WITHDRAWN
    elif status == ConsentStatus.EXPIRED or (end is not None and end <= now):
        effective = ConsentStatus.EXPIRED
    elif start is not None and start > now:
        effective = ConsentStatus.PENDING
    else:
        effective = ConsentStatus.ACTIVE
    return {"status": effective, "legal_basis": basis or "", "reference": ref or "",
            "valid_until": end.isoformat() if end else None}


def _upstream(explanation: dict) -> dict[str, Any]:
    """The parts of the lineage explanation the rules quote: who imposes each constraint."""
    def ref(r: dict) -> dict:
        return {"asset_id": r.get("asset_id"), "name": r.get("name"), "namespace": r.get("namespace"),
                "kind": r.get("kind"), "depth": r.get("depth", 0)}
    jur, pur, cls = explanation.get("jurisdictions", {}), explanation.get("purposes", {}), explanation.get("classification", {})
    return {
        "jurisdictions": [{**ref(s), "allowed": s.get("allowed", [])} for s in jur.get("sources", [])],
        "unknown_residency": [ref(r) for r in jur.get("unknown", [])],
        "purposes": [{**ref(s), "allowed": s.get("allowed", []), "reason": s.get("reason", "")} for s in pur.get("sources", [])],
        "classification": {**ref(cls.get("source") or {}), "classification": cls.get("effective")},
        "flags": [{**ref(f), "code": f.get("code"), "detail": f.get("detail", "")} for f in explanation.get("flags", [])],
    }


def _inputs_query(by_job: bool) -> str:
    """A job's inputs (parameter: the job id), or bare assets in the order given (an id array)."""
    return _INPUTS_SQL.format(
        source="jobs_jobinput ji" if by_job else "unnest(%s::bigint[]) WITH ORDINALITY AS ids(asset_id, ord)",
        asset_col="ji.asset_id" if by_job else "ids.asset_id", version_col="ji.dataset_version_id" if by_job else "NULL",
        role="ji.role" if by_job else "''", constraints=_constraint_table(), where="ji.job_id = %s" if by_job else "TRUE",
        order="ji.id" if by_job else "ids.ord")


def _load_rows(by_job: bool, param: Any) -> list[tuple]:
    return sql.rows(_inputs_query(by_job), [param], prepare=True)


def _is_stale(row: tuple) -> bool:
    computed = row[29]
    if computed is None:
        return True
    changed = [t for t in (row[8], row[14]) if t is not None]
    if any(t > computed for t in changed):
        return True
    end = row[13]  # the asset's own consent ran out since the constraints were computed
    return end is not None and computed < end <= timezone.now()


def _parsed(rows: list[tuple]) -> list[tuple]:
    """The rows with the explanation (column 28) decoded once."""
    return [(*r[:28], orjson.loads(r[28]) if r[28] else None, *r[29:]) for r in rows]


def _stale_upstream(rows: list[tuple]) -> set[int]:
    """Inputs whose upstream assets (or their consents) changed after their constraints were computed."""
    upstream: dict[int, list[int]] = {}
    for row in rows:
        if row[28] is None:
            continue
        explanation = row[28]
        ids = [s["asset_id"] for s in explanation.get("jurisdictions", {}).get("sources", []) if s.get("depth")]
        ids += [s["asset_id"] for s in explanation.get("jurisdictions", {}).get("unknown", []) if s.get("depth")]
        if ids:
            upstream[row[0]] = ids
    if not upstream:
        return set()
    all_ids = sorted({i for ids in upstream.values() for i in ids})
    with connection.cursor() as cur:
        cur.execute("""SELECT a.id, GREATEST(a.updated_at, c.updated_at),
                              CASE WHEN c.valid_until <= now() THEN c.valid_until END
                       FROM catalog_asset a LEFT JOIN catalog_consentrecord c ON c.id = a.consent_id
                       WHERE a.id = ANY(%s)""", [all_ids])
        changed = {r[0]: max(t for t in (r[1], r[2]) if t is not None) for r in cur.fetchall()}
    computed = {row[0]: row[29] for row in rows}
    stale = set()
    for asset_id, ids in upstream.items():
        if any(i not in changed or changed[i] > computed[asset_id] for i in ids):
            stale.add(asset_id)
    return stale


def refresh_constraints(asset_ids: list[int]) -> None:
    """Recompute effective constraints now, with the lineage app's own function."""
    from apps.lineage import constraints

    constraints.compute(sorted(set(asset_ids)))


def _inputs(rows: list[tuple], now: dt.datetime, missing: list[dict], why: str = "lineage has not computed them") -> list[dict]:
    out = []
    for row in rows:
        (aid, name, ns, kind, project_id, tags, pii, storage, _upd, cs, cb, cr, cf, cu, _cu_upd,
         vs, vb, vr, vf, vu, _vu_upd, dv_id, dv_version, jur, pur, unrestricted, cls, flags, expl, computed, role) = row
        version_consent = _consent(vs, vb, vr, vf, vu, now)
        item: dict[str, Any] = {
            "asset_id": aid, "name": name, "namespace": ns, "kind": kind, "role": role, "project_id": project_id,
            "tags": list(tags or []), "contains_pii": pii, "storage_jurisdiction": storage,
            "dataset_version": {"id": dv_id, "version": dv_version} if dv_id else None,
            "consent": version_consent or _consent(cs, cb, cr, cf, cu, now),
            "consent_source": "dataset_version" if version_consent else ("asset" if cs else None),
            "effective": None, "upstream": None,
        }
        if computed is None:
            missing.append({"fact": "effective_constraints", "asset_id": aid,
                            "message": f"The effective constraints of {kind} {ns}/{name} are not known ({why})."})
        else:
            item["effective"] = {"jurisdictions": sorted(jur or []), "purposes": sorted(pur or []),
                                 "purposes_unrestricted": bool(unrestricted), "classification": cls,
                                 "flags": sorted(flags or []), "computed_at": computed.isoformat()}
            item["upstream"] = _upstream(expl or {})
        out.append(item)
    return out


def load_inputs(*, job_id: int | None = None, asset_ids: list[int] | None = None,
                now: dt.datetime | None = None) -> tuple[list[dict], list[dict]]:
    """(inputs, missing) for a job's inputs or for bare assets, with constraints refreshed when stale."""
    by_job = job_id is not None
    param = job_id if by_job else list(asset_ids or [])
    return _inputs_from(_load_rows(by_job, param), by_job, param, now or timezone.now())


def _inputs_from(raw: list[tuple], by_job: bool, param: Any, now: dt.datetime) -> tuple[list[dict], list[dict]]:
    rows = _parsed(raw)
    stale = {r[0] for r in rows if _is_stale(r)} | _stale_upstream(rows)
    missing: list[dict] = []
    if stale:
        try:
            refresh_constraints(list(stale))
            rows = _parsed(_load_rows(by_job, param))
        except Exception as exc:  # fail closed: the stale assets count as unknown
            log.exception("recomputing constraints of %s failed", sorted(stale))
            why = f"lineage could not recompute them: {type(exc).__name__}: {exc}"
            rows = [r if r[0] not in stale else (*r[:23], *(None,) * 7, r[30]) for r in rows]
            return _inputs(rows, now, missing, why), missing
    return _inputs(rows, now, missing), missing


# --- project facts: budget and GPU quota ---------------------------------------------------


# {project} is the project's id, or a subquery reading it from the job (when gathered with the job).
_PROJECT_SQL = """
WITH p AS (SELECT {project}::bigint AS id)
SELECT b.amount, b.currency,
       (SELECT coalesce(sum(j.estimated_cost), 0) FROM jobs_job j
         WHERE j.project_id = p.id AND j.state = ANY(%(committed)s::text[]) AND j.cost_currency = b.currency AND j.id <> %(exclude)s),
       (SELECT coalesce(sum(j.gpus), 0) FROM jobs_job j
         WHERE j.project_id = p.id AND j.state = ANY(%(gpu_states)s::text[]) AND j.id <> %(exclude)s)
FROM p LEFT JOIN policy_budget b ON b.project_id = p.id
"""
_PROJECT_BY_ID = _PROJECT_SQL.format(project="%(project)s")
_PROJECT_BY_JOB = _PROJECT_SQL.format(project="(SELECT project_id FROM jobs_job WHERE id = %(job)s)")


def _project_params(exclude_job_id: int | None, **key: int) -> dict[str, Any]:
    return {**key, "committed": [str(s) for s in COMMITTED_STATES], "gpu_states": [str(s) for s in GPU_STATES],
            "exclude": exclude_job_id or 0}


def _project_result(row: tuple) -> tuple[tuple[Decimal, str] | None, int]:
    amount, currency, committed, gpus = row
    return ((amount - committed, currency) if amount is not None else None), int(gpus)


def _project_load(project_id: int, exclude_job_id: int | None) -> tuple[tuple[Decimal, str] | None, int]:
    """(remaining budget, GPUs approved or on clusters) in one query; see remaining_budget()."""
    return _project_result(sql.rows(_PROJECT_BY_ID, _project_params(exclude_job_id, project=project_id), prepare=True)[0])


def remaining_budget(project: Any, *, exclude_job_id: int | None = None) -> tuple[Decimal, str] | None:
    """The project's budget less the estimated cost of its committed jobs (awaiting approval,
    approved, on a cluster or finished), as (amount, currency); None when it has no budget. The one
    place "remaining budget" is defined (the dispatch capability will move it to actual spend)."""
    return _project_load(getattr(project, "pk", project), exclude_job_id)[0]


def active_gpus(project: Any, *, exclude_job_id: int | None = None) -> int:
    """GPUs of the project's jobs that are approved (about to start) or on a cluster."""
    return _project_load(getattr(project, "pk", project), exclude_job_id)[1]


# --- reference facts -----------------------------------------------------------------------


def _reference() -> dict[str, Any]:
    """Blocs, transfer rules and languages: small tables, cached per process until changed."""
    def load() -> dict[str, Any]:
        blocs = {k: sorted(v) for k, v in _bloc_members().items()}
        rules = list(TransferRule.objects.filter(valid_until__isnull=True).values_list("origin_id", "destination_id", "basis"))
        rules += list(TransferRule.objects.filter(valid_until__gt=timezone.now()).values_list("origin_id", "destination_id", "basis"))
        languages = dict(JurisdictionLanguage.objects.values_list("jurisdiction_id", "languages"))
        return {"blocs": blocs, "transfers": rules, "languages": languages}
    return cache.local("reference", load)


def expand(codes: list[str] | set[str], blocs: dict[str, list[str]]) -> set[str]:
    out: set[str] = set()
    for code in codes:
        out.update(blocs.get(code, (code,)))
    return out


# The cluster the job is judged on (the one given, else the job's target), or, with neither, every
# enabled one: the candidates for "any allowed".
_CLUSTERS_SQL = """
WITH t AS (SELECT coalesce(%(cluster)s::bigint, (SELECT target_cluster_id FROM jobs_job WHERE id = %(job)s)) AS id)
SELECT c.id, c.name, c.jurisdiction_id, c.security_tier, c.confidential_computing, c.price_per_gpu_hour, c.currency,
       c.gpu_count, c.enabled
FROM compute_computecluster c, t WHERE c.id = t.id OR (t.id IS NULL AND c.enabled) ORDER BY c.name
"""


def _clusters(rows: list[tuple]) -> list[dict]:
    return [{"id": c[0], "name": c[1], "jurisdiction": c[2], "security_tier": c[3], "confidential_computing": c[4],
             "price_per_gpu_hour": str(c[5]), "currency": c[6], "gpu_count": c[7], "enabled": c[8]} for c in rows]


def _evaluations(model_ids: list[int], blocs: dict[str, list[str]]) -> dict[str, list[dict]]:
    if not model_ids:
        return {}
    out: dict[str, list[dict]] = {str(m): [] for m in model_ids}
    for model_id, language, jurisdictions in ModelEvaluation.objects.filter(
            model_id__in=model_ids, status=EvaluationStatus.APPROVED).values_list("model_id", "language", "jurisdictions"):
        out[str(model_id)].append({"language": language, "countries": sorted(expand(jurisdictions, blocs))})
    return out


def _relevant_reference(inputs: list[dict], clusters: list[dict], serving: str, ref: dict[str, Any]) -> dict[str, Any]:
    """Only the blocs, transfer rules and languages this job can touch go into its snapshot."""
    blocs = ref["blocs"]
    origins = {i["storage_jurisdiction"] for i in inputs if i["storage_jurisdiction"]}
    origin_blocs = {o: sorted(b for b, members in blocs.items() if o in members) for o in origins}
    origin_codes = origins | {b for bs in origin_blocs.values() for b in bs}
    transfers = [{"origin": o, "destination": d, "countries": sorted(expand([d], blocs)), "basis": basis}
                 for o, d, basis in ref["transfers"] if o in origin_codes]
    used = {code for i in inputs for s in (i["upstream"] or {}).get("jurisdictions", []) for code in s["allowed"]}
    cluster_codes = {c["jurisdiction"] for c in clusters} | ({serving} if serving else set())
    countries = expand(cluster_codes, blocs)
    return {
        "blocs": {b: blocs[b] for b in sorted((used | cluster_codes | origin_codes) & set(blocs))},
        "origin_blocs": origin_blocs, "transfers": transfers,
        "languages": {c: ref["languages"][c] for c in sorted(countries) if c in ref["languages"]},
    }


_JOB_SQL = """
SELECT j.kind, j.purpose, j.image, j.gpus, j.estimated_hours, j.serving_jurisdiction, j.output_name, j.output_namespace,
       j.project_id, p.slug, j.target_cluster_id, c.name, j.requested_by_id, u.kind, u.owner_id
FROM jobs_job j JOIN accounts_project p ON p.id = j.project_id JOIN accounts_user u ON u.id = j.requested_by_id
LEFT JOIN compute_computecluster c ON c.id = j.target_cluster_id
WHERE j.id = %s
"""


def job_facts(job_id: int, *, exclude_self: bool = False, cluster_id: int | None = None) -> dict[str, Any]:
    """The input document for one job. ``exclude_self``: the job is already admitted (its own cost
    and GPUs are not counted twice); ``cluster_id``: judge it on the cluster it was placed on."""
    now = timezone.now()
    # One round trip: the job, its inputs, the clusters and the project's load (prepared statements,
    # binary results: psycopg's C loaders, not Django's Python time-zone loader, read the timestamps).
    job_rows, input_rows, cluster_rows, project_rows = sql.pipelined([
        (_JOB_SQL, [job_id]),
        (_inputs_query(True), [job_id]),
        (_CLUSTERS_SQL, {"cluster": cluster_id, "job": job_id}),
        (_PROJECT_BY_JOB, _project_params(job_id if exclude_self else None, job=job_id)),
    ], prepare=True)
    if not job_rows:
        raise Job.DoesNotExist(f"job {job_id}")
    (kind, purpose, image, gpus_wanted, hours, serving, output_name, output_ns, project_id, slug, _target_id, target_name,
     requester_id, requester_kind, owner_id) = job_rows[0]
    inputs, missing = _inputs_from(input_rows, True, job_id, now)
    clusters = _clusters(cluster_rows)
    if not clusters:
        missing.append({"fact": "clusters", "asset_id": None, "message": "No enabled cluster is registered."})
    budget, gpus = _project_result(project_rows[0])
    ref = _reference()
    model_ids = [i["asset_id"] for i in inputs if i["kind"] != "dataset"]
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "job": {"id": job_id, "kind": kind, "purpose": purpose, "project": slug, "project_id": project_id,
                "image": image, "gpus": gpus_wanted, "estimated_hours": float(hours), "serving_jurisdiction": serving,
                "output_name": output_name, "output_namespace": output_ns, "target_cluster": target_name,
                "requested_by": {"id": requester_id, "kind": requester_kind, "owner_id": owner_id}},
        "inputs": inputs, "clusters": clusters,
        "project": {"slug": slug, "budget": {"remaining": str(budget[0]), "currency": budget[1]} if budget else None,
                    "active_gpus": gpus},
        "evaluations": _evaluations(model_ids, ref["blocs"]),
        **_relevant_reference(inputs, clusters, serving, ref),
        "missing": missing,
    }
    return doc


def serving_facts(model_id: int) -> dict[str, Any]:
    """What /decide needs about one model, cached by the caller: its input facts and evaluations."""
    inputs, missing = load_inputs(asset_ids=[model_id])
    ref = _reference()
    return {"inputs": inputs, "missing": missing, "evaluations": _evaluations([model_id], ref["blocs"]), "reference": ref}


# --- what changed ----------------------------------------------------------------------------


def downstream_assets(asset_ids: list[int]) -> set[int]:
    """The assets given and every asset downstream of them in the lineage graph."""
    from apps.lineage import graph

    reached = graph.downstream_nodes(sorted(set(asset_ids)))
    return set(asset_ids) | {n for n in reached if n > 0}


def constraints_changed_since(since: dt.datetime) -> tuple[list[int], dt.datetime]:
    """Assets whose effective constraints were recomputed after ``since``, and the new watermark."""
    with connection.cursor() as cur:
        # The table name comes from the model's metadata, never from input.
        cur.execute(f"SELECT asset_id, computed_at FROM {_constraint_table()} WHERE computed_at > %s", [since])  # noqa: S608
        rows = cur.fetchall()
    if not rows:
        return [], since
    return [r[0] for r in rows], max(r[1] for r in rows)


__all__ = ["COMMITTED_STATES", "GPU_STATES", "active_gpus", "constraints_changed_since", "downstream_assets", "expand",
           "job_facts", "load_inputs", "refresh_constraints", "remaining_budget", "serving_facts"]
