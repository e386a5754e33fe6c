"""Lineage: OpenLineage ingestion over HTTP and the graph query at scale, on a throwaway database.

1. single   the official openlineage-python client (HttpTransport, api_key auth), SENDERS processes
            emitting START and COMPLETE for runs that read 2 datasets and write 1 (with schema, job
            type, nominal time and processing-engine facets), against gunicorn (WORKERS gthread
            workers with THREADS threads, so that the client's session keeps its connection).
2. batch    POST /api/v1/lineage/batch, BATCH_SIZE events a request, BATCH_SENDERS in flight.
3. copy     the same normalized rows (raw events, runs, transitions, run inputs/outputs) written by a
            plain COPY into tables of the same shape and indexes: what PostgreSQL itself takes here.
4. graph    GET /api/v1/lineage/graph?direction=downstream&depth=20 from random datasets of a graph
            of 1,000,000 edges (2,500 pipelines of 100 jobs; each job reads its two predecessors and
            a dimension table, one job in ten a dataset of another pipeline; seeded with SQL).

Every response must succeed; a failure makes the run invalid (BenchmarkError), not a missed target.
Targets are govhub's own goals for this 2-core box (see docs/lineage.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import multiprocessing
import os
import random
import statistics
import time
import urllib.request
import uuid
from typing import Any

from benchmarks.harness import BenchmarkError, Context, Figure, cpu_busy_snapshot
from benchmarks.loadgen import LoadGenerator

NAME = "lineage"

SINGLE_TARGET = 300.0  # events/s
BATCH_TARGET = 3000.0  # events/s
GRAPH_P95_MS = 100.0
WORKERS = 4
THREADS = 1  # gthread workers keep HTTP connections alive for the clients (sync workers close every one); 4x1 measured best
SENDERS = 4
BATCH_SENDERS = 3
BATCH_SIZE = 500
POOL_JOBS = 100
POOL_DATASETS = 300
PIPELINES, STEPS = 2_500, 100  # 250,000 jobs x 4 edges = 1,000,000 edges
ID_BASE = 10_000_000  # seeded graph ids start here, far above anything the app creates
GRAPH_STARTS = 2_000
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


# --- events ----------------------------------------------------------------------------------


def _dataset(i: int) -> tuple[str, str]:
    return (f"s3://bench-lake-{i % 5}", f"warehouse.table_{i:04d}")


def job_datasets(job: int) -> tuple[int, int, int]:
    """A scheduled task reads and writes the same tables every run: (input, input, output)."""
    return (job * 3 + 1) % POOL_DATASETS, (job * 3 + 2) % POOL_DATASETS, (job * 3) % POOL_DATASETS


@functools.cache
def client_facets() -> dict[str, dict[str, Any]]:
    """The facets ``_sender`` emits, as the official client serializes them, so that the batch
    phase sends the same pipelines' facets (not a change of every dataset's facets)."""
    from openlineage.client.facet_v2 import job_type_job, processing_engine_run, schema_dataset
    from openlineage.client.serde import Serde

    return {
        "schema": Serde.to_dict(schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in COLUMNS])),
        "jobType": Serde.to_dict(job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType="TASK")),
        "processing_engine": Serde.to_dict(processing_engine_run.ProcessingEngineRunFacet(
            version="2.10.0", name="Airflow", openlineageAdapterVersion="1.54.0")),
    }


COLUMNS = (("id", "BIGINT"), ("value", "DOUBLE"), ("updated_at", "TIMESTAMP"))


def event_dict(job: int, run_id: str, event_type: str, when: dt.datetime) -> dict[str, Any]:
    """The event ``_sender`` emits with the official client, as a dict (for the batch phase)."""
    a, b, out = job_datasets(job)
    facets = client_facets()

    def ds(i: int) -> dict[str, Any]:
        ns, name = _dataset(i)
        return {"namespace": ns, "name": name, "facets": {"schema": facets["schema"]}}

    nominal = {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
               "nominalStartTime": when.replace(minute=0, second=0, microsecond=0).isoformat()}
    return {
        "eventType": event_type, "eventTime": when.isoformat(), "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {"nominalTime": nominal, "processing_engine": facets["processing_engine"]}},
        "job": {"namespace": "airflow-bench", "name": f"dag_{job // 10}.task_{job}", "facets": {"jobType": facets["jobType"]}},
        "inputs": [ds(a), ds(b)], "outputs": [ds(out)],
    }


def _sender(url: str, token: str, start_at: float, duration: float, seed: int) -> dict[str, Any]:
    """One process with the official client: START and COMPLETE per run, back to back."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import job_type_job, nominal_time_run, processing_engine_run, schema_dataset
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    client = OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(
        {"type": "http", "url": url, "auth": {"type": "api_key", "apiKey": token}, "timeout": 30, "retry": {"total": 0}})))
    rng = random.Random(seed)
    schema = schema_dataset.SchemaDatasetFacet(fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in COLUMNS])
    engine = processing_engine_run.ProcessingEngineRunFacet(version="2.10.0", name="Airflow", openlineageAdapterVersion="1.54.0")
    jobtype = job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType="TASK")
    ok = errors = 0
    samples: list[str] = []
    while time.monotonic() < start_at:
        time.sleep(0.01)
    deadline = start_at + duration
    cpu0 = time.process_time()
    while time.monotonic() < deadline:
        job = rng.randrange(POOL_JOBS)
        a, b, out = job_datasets(job)
        run_id, now = str(uuid.uuid4()), dt.datetime.now(dt.UTC)
        ins = [InputDataset(*_dataset(a), facets={"schema": schema}), InputDataset(*_dataset(b), facets={"schema": schema})]
        outs = [OutputDataset(*_dataset(out), facets={"schema": schema})]
        for state in (RunState.START, RunState.COMPLETE):
            event = RunEvent(eventType=state, eventTime=dt.datetime.now(dt.UTC).isoformat(), producer=PRODUCER,
                             run=Run(runId=run_id, facets={"nominalTime": nominal_time_run.NominalTimeRunFacet(
                                 nominalStartTime=now.replace(minute=0, second=0, microsecond=0).isoformat()), "processing_engine": engine}),
                             job=Job(namespace="airflow-bench", name=f"dag_{job // 10}.task_{job}", facets={"jobType": jobtype}),
                             inputs=ins, outputs=outs)
            try:
                client.emit(event)
                ok += 1
            except Exception as exc:  # counted, reported, and the run is invalid
                errors += 1
                if len(samples) < 3:
                    samples.append(f"{type(exc).__name__}: {exc}")
    return {"ok": ok, "errors": errors, "samples": samples, "cpu": time.process_time() - cpu0}


def _batch_sender(url: str, token: str, start_at: float, duration: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    ok = errors = requests_ = 0
    samples: list[str] = []
    latencies: list[float] = []
    while time.monotonic() < start_at:
        time.sleep(0.01)
    deadline = start_at + duration
    cpu0 = time.process_time()
    while time.monotonic() < deadline:
        now = dt.datetime.now(dt.UTC)
        events = []
        for _ in range(BATCH_SIZE // 2):
            run_id = str(uuid.uuid4())
            job = rng.randrange(POOL_JOBS)
            events.append(event_dict(job, run_id, "START", now))
            events.append(event_dict(job, run_id, "COMPLETE", now + dt.timedelta(seconds=1)))
        body = json.dumps(events).encode()
        request = urllib.request.Request(f"{url}/api/v1/lineage/batch", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our own local server
                summary = json.loads(response.read())["summary"]
            latencies.append((time.perf_counter() - t0) * 1000)
            ok += summary["created"]
            errors += summary["failed"]
            requests_ += 1
        except Exception as exc:
            errors += len(events)
            if len(samples) < 3:
                samples.append(f"{type(exc).__name__}: {exc}")
    return {"ok": ok, "errors": errors, "samples": samples, "requests": requests_, "latencies": latencies,
            "cpu": time.process_time() - cpu0}


def _fan_out(ctx: Context, label: str, target: Any, url: str, token: str, processes: int, duration: float) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        start_at = time.monotonic() + 2.0  # every sender imported and connected before the clock starts
        before = cpu_busy_snapshot()
        parts = pool.starmap(target, [(url, token, start_at, duration, 1000 + i) for i in range(processes)])
        after = cpu_busy_snapshot()
    result = {"ok": sum(p["ok"] for p in parts), "errors": sum(p["errors"] for p in parts),
              "samples": [s for p in parts for s in p["samples"]], "latencies": [x for p in parts for x in p.get("latencies", [])]}
    result["rate"] = result["ok"] / duration
    busy = f"; machine CPU busy {100 * (after[0] - before[0]) / (after[1] - before[1]):.0f}%" if before and after else ""
    client_cpu = sum(p["cpu"] for p in parts) / max(result["ok"], 1) * 1000
    ctx.log(f"{label}: {result['ok']} events in {duration:.0f} s = {result['rate']:.0f} events/s, {result['errors']} errors{busy}; "
            f"client CPU {client_cpu:.2f} ms/event; load average {os.getloadavg()[0]:.1f}")
    if result["errors"]:
        raise BenchmarkError(f"{label}: {result['errors']} events failed; first: {result['samples']}")
    return result


# --- fixture ---------------------------------------------------------------------------------


def seed(ctx: Context) -> dict[str, Any]:
    """A project, its data steward, a pipeline account with a write token, namespace rules."""
    from apps.accounts import services as accounts
    from apps.catalog import services as catalog
    from apps.catalog.models import Jurisdiction
    from apps.core.context import Actor, acting_as
    from apps.core.roles import Role

    with acting_as(Actor(user_id=None, label="bench:lineage", kind="system")):
        project = accounts.create_project({"slug": "bench-lineage", "name": "Benchmark lineage"})
        steward = accounts.create_person("bench-steward", email="steward@bench.invalid", first_name="Bench")
        accounts.set_membership(steward, project, Role.DATA_STEWARD)
        for i, code in enumerate(("DE", "FR", "EU", "IE", "NL")):
            catalog.create_namespace_rule({"pattern": f"s3://bench-lake-{i}", "jurisdiction": Jurisdiction.objects.get(code=code)})
    with acting_as(steward):
        account = accounts.create_service_account("bench-pipeline", owner=steward, project=project, description="lineage benchmark",
                                                  role=Role.DATA_STEWARD)
        _token, raw = accounts.issue_token(account, name="lineage benchmark", scope="write", created_by=steward)
    return {"project": project, "token": raw}


def warm_up(ctx: Context, url: str, token: str) -> None:
    """Create the job and dataset pool (the first sight of a dataset goes through the catalog
    services: a rare path, not what is measured) and warm every gunicorn worker."""
    now = dt.datetime.now(dt.UTC)
    events = [event_dict(job, str(uuid.uuid4()), "START", now) for job in range(POOL_JOBS)]
    for i in range(0, len(events), 100):
        request = urllib.request.Request(f"{url}/api/v1/lineage/batch", data=json.dumps(events[i:i + 100]).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            summary = json.loads(response.read())
        if summary["summary"]["failed"]:
            raise BenchmarkError(f"warm-up batch failed: {summary['failed_events'][:2]}")
    _fan_out(ctx, "warm-up (official client)", _sender, url, token, 2, 3.0)


# --- COPY: what PostgreSQL itself takes ------------------------------------------------------

COPY_TABLES = {  # table: the rows the batch phase wrote, selected by raw event id range
    "lineage_rawevent": "SELECT * FROM lineage_rawevent WHERE id BETWEEN %(lo)s AND %(hi)s",
    "lineage_runtransition": "SELECT * FROM lineage_runtransition WHERE raw_event_id BETWEEN %(lo)s AND %(hi)s",
    "lineage_run": """SELECT * FROM lineage_run WHERE id IN (SELECT run_id FROM lineage_runtransition
                      WHERE raw_event_id BETWEEN %(lo)s AND %(hi)s)""",
    "lineage_runio": """SELECT * FROM lineage_runio WHERE run_id IN (SELECT run_id FROM lineage_runtransition
                        WHERE raw_event_id BETWEEN %(lo)s AND %(hi)s)""",
}


def measure_copy(ctx: Context, lo: int, hi: int) -> float:
    """COPY the batch phase's rows into same-shaped tables (same indexes, no triggers or foreign
    keys) and return events per second."""
    from django.db import connection

    events = 0
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM lineage_rawevent WHERE id BETWEEN %s AND %s", [lo, hi])
        events = cur.fetchone()[0]
        dumps: dict[str, bytes] = {}
        raw_cur = cur.cursor  # psycopg's own cursor, for COPY
        for table, query in COPY_TABLES.items():
            cur.execute(f"DROP TABLE IF EXISTS bench_copy_{table}")
            cur.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)")
            buffer = io.BytesIO()
            with raw_cur.copy(f"COPY ({query}) TO STDOUT", {"lo": lo, "hi": hi}) as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
        started = time.perf_counter()
        for table, data in dumps.items():
            with raw_cur.copy(f"COPY bench_copy_{table} FROM STDIN") as copy:
                copy.write(data)
        elapsed = time.perf_counter() - started
        rows = {t: d.count(b"\n") for t, d in dumps.items()}
        for table in COPY_TABLES:
            cur.execute(f"DROP TABLE bench_copy_{table}")
    rate = events / elapsed if elapsed else 0.0
    ctx.log(f"COPY of the same rows ({rows}) for {events} events: {elapsed:.2f} s = {rate:.0f} events/s")
    return rate


# --- the 1,000,000-edge graph ------------------------------------------------------------------

SEED_GRAPH = f"""
INSERT INTO catalog_asset (id, kind, project_id, namespace, name, description, tags, classification, contains_pii,
                           storage_jurisdiction_id, processing_jurisdictions, residency_source, created_at, updated_at, version)
SELECT {ID_BASE} + p * %(per)s + i, 'dataset', %(project)s, 's3://graph-' || (p %% 50), 'p' || p || '.d' || i, '', '{{}}',
       'internal', false, (ARRAY['DE', 'FR', 'IE', 'NL', NULL])[1 + p %% 5],
       CASE WHEN p %% 5 = 4 THEN '{{}}'::varchar[] ELSE ARRAY[(ARRAY['DE', 'FR', 'IE', 'NL'])[1 + p %% 5]]::varchar[] END,
       CASE WHEN p %% 5 = 4 THEN 'unknown' ELSE 'declared' END, now(), now(), 1
FROM generate_series(0, %(pipelines)s - 1) AS p, generate_series(0, %(per)s - 1) AS i;

INSERT INTO lineage_job (id, project_id, namespace, name, description, job_type, owners, source_code_location, sql, facets,
                         facets_digest, created_at, updated_at)
SELECT {ID_BASE} + p * %(steps)s + k, %(project)s, 'airflow-graph', 'p' || p || '.step' || k, '', '', '[]', '', '', '{{}}', '', now(), now()
FROM generate_series(0, %(pipelines)s - 1) AS p, generate_series(0, %(steps)s - 1) AS k;

INSERT INTO lineage_edge (src, dst, first_seen)
SELECT e.src, e.dst, now()
FROM generate_series(0::bigint, %(pipelines)s - 1) AS p, generate_series(0::bigint, %(steps)s - 1) AS k,
LATERAL (SELECT -({ID_BASE} + p * %(steps)s + k) AS job,
                {ID_BASE} + p * %(per)s AS a0,
                (p * 1103515245 + k * 12345) %% 10 = 0 AS cross_link,
                (p + 1 + (p * 7919 + k * 104729) %% (%(pipelines)s - 1)) %% %(pipelines)s AS other,
                (p * 31 + k * 17) %% %(steps)s AS other_step) AS x,
LATERAL (VALUES
    (CASE WHEN k >= 1 THEN x.a0 + 3 + k - 1 ELSE x.a0 + 1 END, x.job),
    (CASE WHEN k >= 2 THEN x.a0 + 3 + k - 2 ELSE x.a0 END, x.job),
    (CASE WHEN x.cross_link THEN {ID_BASE} + x.other * %(per)s + 3 + x.other_step ELSE x.a0 + 2 END, x.job),
    (x.job, x.a0 + 3 + k)
) AS e(src, dst)
ON CONFLICT DO NOTHING;
"""


def seed_graph(ctx: Context, project_id: int) -> int:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cur:
        cur.execute(SEED_GRAPH, {"project": project_id, "pipelines": PIPELINES, "steps": STEPS, "per": STEPS + 3})
        # What autovacuum does on its own after a bulk load: statistics, and the visibility map that
        # lets the walk read edges from the index alone.
        cur.execute("VACUUM (ANALYZE) catalog_asset, lineage_job, lineage_edge")
        cur.execute("SELECT count(*) FROM lineage_edge WHERE src >= %s OR dst >= %s", [ID_BASE, ID_BASE])
        edges = cur.fetchone()[0]
    ctx.log(f"seeded {edges} graph edges ({PIPELINES * (STEPS + 3)} datasets, {PIPELINES * STEPS} jobs) in {time.monotonic() - started:.1f} s")
    if edges < 990_000:
        raise BenchmarkError(f"seeded only {edges} edges")
    return edges


def graph_paths(server: Any, headers: dict[str, str]) -> tuple[list[str], str]:
    rng = random.Random(11)
    starts = [ID_BASE + p * (STEPS + 3) + 3 + rng.randrange(STEPS // 2) for p in rng.sample(range(PIPELINES), GRAPH_STARTS)]
    paths = [f"/api/v1/lineage/graph?node=asset:{a}&direction=downstream&depth=20" for a in starts]
    sizes = []
    for path in paths[:50]:
        status, body = server.get(path, headers=headers)
        if status != 200:
            raise BenchmarkError(f"GET {path} answered {status}: {body[:300]!r}")
        sizes.append(json.loads(body)["count"])
    return paths, f"median {statistics.median(sizes):.0f}, max {max(sizes)}"


# --- the run ---------------------------------------------------------------------------------


def run(ctx: Context) -> list[Figure]:
    duration = min(ctx.duration, 20.0)
    with ctx.bench_database() as url:
        ctx.django_setup(url)
        fixture = seed(ctx)
        token, headers = fixture["token"], {"Authorization": f"Bearer {fixture['token']}"}
        from django.db import connection

        threads = ("--worker-class", "gthread", "--threads", str(THREADS), "--keep-alive", "5")
        with ctx.gunicorn(url, workers=WORKERS, extra_args=threads) as server:
            warm_up(ctx, server.base_url, token)
            single = _fan_out(ctx, "single events (official client)", _sender, server.base_url, token, SENDERS, duration)
            if os.environ.get("BENCH_LINEAGE_ONLY") == "single":
                raise BenchmarkError("BENCH_LINEAGE_ONLY=single: stopping after the single-event figure (profiling run)")
            with connection.cursor() as cur:
                cur.execute("SELECT COALESCE(max(id), 0) FROM lineage_rawevent")
                lo = cur.fetchone()[0] + 1
            batch = _fan_out(ctx, f"batches of {BATCH_SIZE}", _batch_sender, server.base_url, token, BATCH_SENDERS, duration)
            with connection.cursor() as cur:
                cur.execute("SELECT COALESCE(max(id), 0) FROM lineage_rawevent")
                hi = cur.fetchone()[0]
        if batch["latencies"]:
            ctx.log(f"batch request latency: median {statistics.median(batch['latencies']):.0f} ms, max {max(batch['latencies']):.0f} ms")
        copy_rate = measure_copy(ctx, lo, hi)
        ctx.log(f"batch ingestion is {100 * batch['rate'] / copy_rate:.0f}% of a plain COPY of the same rows; "
                f"single-event ingestion {100 * single['rate'] / copy_rate:.0f}%")
        seed_graph(ctx, fixture["project"].pk)
        with ctx.gunicorn(url, workers=2) as server:
            paths, sizes = graph_paths(server, headers)
            ctx.log(f"depth-20 downstream neighbourhoods of the sampled datasets: {sizes} nodes")
            with LoadGenerator(server.host, server.port, processes=2, headers=headers) as load:
                load.run("graph warm-up", paths[:200], min(3.0, duration))
                result = load.run("graph depth 20", paths, duration)
            ctx.log(result.describe())
            if result.errors or not result.ok:
                raise BenchmarkError(f"graph queries failed: {result.error_samples}")
    return [
        Figure(f"{NAME}.ingest.single.rate", round(single["rate"], 1), "events/s", ">=", SINGLE_TARGET),
        Figure(f"{NAME}.ingest.batch.rate", round(batch["rate"], 1), "events/s", ">=", BATCH_TARGET),
        Figure(f"{NAME}.copy.rate", round(copy_rate, 1), "events/s", ">=", BATCH_TARGET),
        Figure(f"{NAME}.graph.depth20.p50", round(result.percentile(50), 2), "ms", "<=", GRAPH_P95_MS),
        Figure(f"{NAME}.graph.depth20.p95", round(result.percentile(95), 2), "ms", "<=", GRAPH_P95_MS),
    ]
