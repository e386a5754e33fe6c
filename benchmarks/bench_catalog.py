"""Catalog read throughput: the dataset list and detail API over a catalog of 100,000 datasets.

Seeds a throwaway database (``bench_catalog``) with one project, a data steward, a service account
with a read token and 100,000 datasets (one INSERT ... SELECT generate_series), starts gunicorn
with 2 sync workers, and drives it with 4 client processes (4 requests in flight) for
``ctx.duration`` seconds per measurement:

- ``list.first``  GET /api/v1/datasets/?page_size=50                 the first page
- ``list.deep``   GET /api/v1/datasets/?page_size=50&cursor=...      page 21 (rows 1001-1050), reached
                  by following ``next`` 20 times, then requested over and over
- ``list.search`` GET /api/v1/datasets/?q=genomics&page_size=50      a term in ~4% of the datasets
- ``detail``      GET /api/v1/datasets/<id>/                        5,000 random ids, in random order

Every response must be 200; any other status or a connection error makes the run invalid
(BenchmarkError), not a missed target.

With ``BENCH_PROFILE=1`` it also profiles each request kind in-process (cProfile, Django's test
client against the same database) and writes ``benchmarks/out/catalog-<kind>.pstats`` plus the SQL
queries per request to the log.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from typing import Any

from benchmarks.harness import BenchmarkError, Context, Figure, cpu_busy_snapshot, cpu_count, process_cpu_seconds
from benchmarks.loadgen import LoadGenerator, LoadResult

NAME = "catalog"

DATASETS = 100_000
PAGE_SIZE = 50
DEEP_PAGES = 20
DETAIL_IDS = 5_000
WORKERS = 2
CLIENT_PROCESSES = 4
WARMUP_S = 3.0
SEARCH_TERM = "genomics"

# Our own product targets for a 2-core box (2 gunicorn sync workers, PostgreSQL on the same box,
# 4 requests in flight). They are govhub's goals, not an external SLA or a published baseline.
LIST_THROUGHPUT = 150.0  # req/s, each list variant
LIST_P95_MS = 100.0
DETAIL_THROUGHPUT = 300.0  # req/s
DETAIL_P95_MS = 50.0
# p50 is held to the same bound as p95 (a median over the p95 target means the p95 is missed
# too); it is reported to show the shape of the distribution, not as a separate goal.
# cpu_per_request (server-side CPU: gunicorn workers + their PostgreSQL backends) is held to the
# budget the throughput target implies on 2 cores: 2 CPU-seconds / 150 = 13.3 ms for a list
# request, 2 / 300 = 6.7 ms for a detail. It moves much less than throughput when other work
# shares the machine, so it is the figure to compare across noisy runs. (With PostgreSQL on
# another machine it counts the gunicorn workers only.)
TARGET_CPUS = 2

DOMAINS = [
    "oncology", "cardiology", "radiology", "genomics", "fraud", "payments", "credit", "telemetry", "traffic",
    "energy", "weather", "census", "taxation", "customs", "retail", "logistics", "satellite", "speech",
    "translation", "legal", "education", "agriculture", "water", "mobility", "housing",
]  # 25 domains: each appears in 4% of the datasets
STAGES = ["raw", "curated", "features", "labels"]
# (namespace, storage jurisdiction, processing jurisdictions); the last is residency unknown.
LOCATIONS = [
    ("s3://acme-de-health", "DE", ["DE", "EU"]),
    ("s3://acme-fr-gov", "FR", ["FR", "EU"]),
    ("gs://acme-eu-research", "EU", ["EU"]),
    ("s3://acme-sa-energy", "SA", ["SA"]),
    ("s3://acme-us-retail", "US", ["US"]),
    ("gs://acme-in-telco", "IN", ["IN"]),
    ("s3://acme-ae-city", "AE", ["AE"]),
    ("hdfs://legacy-cluster", None, []),
]

SEED_SQL = """
INSERT INTO catalog_asset (
    kind, project_id, namespace, name, owner_id, description, tags, classification, contains_pii,
    storage_jurisdiction_id, processing_jurisdictions, residency_source, consent_id, base_model_id,
    created_at, updated_at, version
)
SELECT
    'dataset',
    %(project)s,
    (%(namespaces)s::text[])[1 + g %% %(n_loc)s],
    'dataset-' || lpad(g::text, 6, '0') || '-' || (%(stages)s::text[])[1 + (g / 7) %% %(n_stage)s],
    NULL,
    'Synthetic ' || (%(stages)s::text[])[1 + (g / 7) %% %(n_stage)s] || ' data about '
        || (%(domains)s::text[])[1 + g %% %(n_dom)s] || ', batch ' || (g / 1000),
    ARRAY[(%(domains)s::text[])[1 + g %% %(n_dom)s], (%(stages)s::text[])[1 + (g / 7) %% %(n_stage)s]],
    (ARRAY['public', 'internal', 'confidential', 'restricted'])[1 + (g / 3) %% 4],
    g %% 3 = 0,
    (%(storage)s::text[])[1 + g %% %(n_loc)s],
    CASE WHEN (%(storage)s::text[])[1 + g %% %(n_loc)s] IS NULL THEN '{}'::varchar[]
         ELSE string_to_array((%(processing)s::text[])[1 + g %% %(n_loc)s], ',')::varchar[] END,
    CASE WHEN (%(storage)s::text[])[1 + g %% %(n_loc)s] IS NULL THEN 'unknown' ELSE 'declared' END,
    CASE WHEN g %% 5 = 0 THEN (%(consents)s::bigint[])[1 + (g / 5) %% %(n_consent)s] END,
    NULL,
    now() - (%(n)s - g) * interval '1 minute',
    now() - (%(n)s - g) * interval '1 minute',
    1
FROM generate_series(1, %(n)s) AS g
"""


def seed(ctx: Context) -> dict[str, Any]:
    """Project, steward, service account + read token, 3 consent records, 100,000 datasets."""
    from django.db import connection

    from apps.accounts import services as accounts
    from apps.catalog import services as catalog
    from apps.core.context import Actor, acting_as
    from apps.core.roles import Role

    started = time.monotonic()
    with acting_as(Actor(user_id=None, label="bench:catalog", kind="system")):
        project = accounts.create_project({"slug": "bench-catalog", "name": "Benchmark catalog"})
        steward = accounts.create_person("bench-steward", email="steward@bench.invalid", first_name="Bench")
        accounts.set_membership(steward, project, Role.DATA_STEWARD)
        consents = [
            catalog.create_consent({"project": project, "reference": f"BENCH-CONSENT-{i}", "legal_basis": "consent",
                                    "purposes": ["research"], "jurisdiction_scope": ["EU"]})
            for i in range(3)
        ]
    with acting_as(steward):
        account = accounts.create_service_account("bench-reader", owner=steward, project=project,
                                                  description="catalog benchmark client", role="data_steward")
        _token, raw = accounts.issue_token(account, name="catalog benchmark", scope="read", created_by=steward)

    params = {
        "project": project.pk,
        "n": DATASETS,
        "namespaces": [loc[0] for loc in LOCATIONS],
        "storage": [loc[1] for loc in LOCATIONS],
        "processing": [",".join(loc[2]) for loc in LOCATIONS],
        "n_loc": len(LOCATIONS),
        "domains": DOMAINS,
        "n_dom": len(DOMAINS),
        "stages": STAGES,
        "n_stage": len(STAGES),
        "consents": [c.pk for c in consents],
        "n_consent": len(consents),
    }
    with connection.cursor() as cur:
        cur.execute(SEED_SQL, params)
        # A steady-state table: visibility map set, GIN pending lists merged, statistics fresh, so
        # that autovacuum does not wake up on the 100,000 new rows in the middle of a measurement.
        cur.execute("VACUUM (ANALYZE) catalog_asset")
        cur.execute("SELECT count(*) FROM catalog_asset WHERE kind = 'dataset' AND project_id = %s", [project.pk])
        count = cur.fetchone()[0]
        cur.execute("SELECT id FROM catalog_asset WHERE kind = 'dataset' ORDER BY random() LIMIT %s", [DETAIL_IDS])
        ids = [row[0] for row in cur.fetchall()]
    if count != DATASETS:
        raise BenchmarkError(f"seeded {count} datasets, expected {DATASETS}")
    ctx.log(f"seeded {count} datasets in {time.monotonic() - started:.1f} s")
    return {"project": project, "token": raw, "ids": ids}


def _json(server, path: str, headers: dict[str, str]) -> dict[str, Any]:
    status, body = server.get(path, headers=headers)
    if status != 200:
        raise BenchmarkError(f"GET {path} answered {status}: {body[:300]!r}")
    return json.loads(body)


def _path_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def request_paths(server, headers: dict[str, str], ids: list[int]) -> dict[str, list[str]]:
    """The four request kinds, each checked once before it is measured."""
    first = f"/api/v1/datasets/?page_size={PAGE_SIZE}"
    page = _json(server, first, headers)
    if len(page.get("results", [])) != PAGE_SIZE or not page.get("next"):
        raise BenchmarkError(f"first page: expected {PAGE_SIZE} results and a next link, got keys {sorted(page)}")
    for _ in range(DEEP_PAGES):
        deep = _path_of(page["next"])
        page = _json(server, deep, headers)
        if len(page.get("results", [])) != PAGE_SIZE:
            raise BenchmarkError(f"{deep}: expected {PAGE_SIZE} results, got {len(page.get('results', []))}")
    search = f"/api/v1/datasets/?q={SEARCH_TERM}&page_size={PAGE_SIZE}"
    found = _json(server, search, headers).get("results", [])
    if len(found) != PAGE_SIZE or not all(SEARCH_TERM in (r["description"] + " ".join(r["tags"])) for r in found):
        raise BenchmarkError(f"search for {SEARCH_TERM!r} did not return a full page of matches")
    details = [f"/api/v1/datasets/{pk}/" for pk in ids]
    if _json(server, details[0], headers).get("id") != ids[0]:
        raise BenchmarkError(f"{details[0]} did not return dataset {ids[0]}")
    return {"list.first": [first], "list.deep": [deep], "list.search": [search], "detail": details}


def _postgres_backends() -> list[int]:
    """The local PostgreSQL backends serving the benchmark database (the gunicorn workers'
    connections), for CPU accounting; empty when the server is not on this machine."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        pids = [row[0] for row in cur.fetchall()]
    local = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"postgres" in f.read():
                    local.append(pid)
        except OSError:
            pass
    return local


def _measure(ctx: Context, load: LoadGenerator, server, label: str, paths: list[str],
             duration: float) -> tuple[LoadResult, float | None]:
    """One measurement; returns it with the server-side CPU milliseconds per request (gunicorn
    workers + their PostgreSQL backends when PostgreSQL runs on this machine)."""
    backends = _postgres_backends()
    server_pids = server.pids()
    before = cpu_busy_snapshot(), process_cpu_seconds(server_pids), process_cpu_seconds(backends)
    result = load.run(label, paths, duration)
    after = cpu_busy_snapshot(), process_cpu_seconds(server_pids), process_cpu_seconds(backends)
    notes = []
    cpu_ms = None
    if before[0] and after[0] and after[0][1] > before[0][1] and result.elapsed_s > 0:
        busy = (after[0][0] - before[0][0]) / (after[0][1] - before[0][1])
        ours = ((after[1] - before[1]) + (after[2] - before[2]) + result.client_cpu_s) / result.elapsed_s
        cpus = cpu_count()
        notes.append(f"machine CPU busy {100 * busy:.0f}%: this benchmark {ours:.2f} of {cpus} CPUs, "
                     f"other processes ~{max(0.0, busy * cpus - ours):.2f}")
    if result.ok and server_pids:  # no /proc, no CPU accounting
        cpu_ms = 1000 * ((after[1] - before[1]) + (after[2] - before[2])) / result.ok
        notes.append(f"CPU per request: gunicorn {1000 * (after[1] - before[1]) / result.ok:.1f} ms"
                     + (f", PostgreSQL {1000 * (after[2] - before[2]) / result.ok:.1f} ms" if backends else ""))
    ctx.log(result.describe() + "; " + "; ".join(notes))
    if result.errors:
        raise BenchmarkError(f"{label}: {result.errors} failed requests, so the figures are invalid; first ones:\n  "
                             + "\n  ".join(result.error_samples))
    if result.ok == 0:
        raise BenchmarkError(f"{label}: no request completed in {duration} s")
    return result, cpu_ms


def profile(ctx: Context, paths: dict[str, list[str]], token: str, requests: int = 200) -> None:
    """cProfile ``requests`` requests of each kind through Django's test client, in this process."""
    import cProfile
    import io
    import pstats

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    db = settings.DATABASES["default"]
    # Under a real server a persistent connection with health checks also sends one SELECT 1
    # per request; the test client does not run that check.
    health_note = " (+1 SELECT 1 health check under gunicorn)" if db.get("CONN_HEALTH_CHECKS") and db.get("CONN_MAX_AGE") else ""
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    for label, candidates in paths.items():
        for path in candidates[:20]:  # warm
            client.get(path)
        with CaptureQueriesContext(connection) as queries:
            client.get(candidates[0])
        ctx.log(f"profile {label}: {len(queries)} SQL queries per request{health_note}:")
        for q in queries.captured_queries:
            ctx.log(f"    {q['time']}s  {q['sql'][:400]}")
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        for i in range(requests):
            response = client.get(candidates[i % len(candidates)])
            if response.status_code != 200:
                raise BenchmarkError(f"profile {label}: HTTP {response.status_code}")
        prof.disable()
        per_request = (time.perf_counter() - started) / requests * 1000
        out = ctx.out_dir / f"{NAME}-{label.replace('.', '-')}.pstats"
        prof.dump_stats(out)
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(40)
        ctx.log(f"profile {label}: {per_request:.1f} ms per request under cProfile; {out}\n{text.getvalue()}")


def run(ctx: Context) -> list[Figure]:
    duration = ctx.duration
    with ctx.bench_database() as url:
        ctx.django_setup(url)
        fixture = seed(ctx)
        headers = {"Authorization": f"Bearer {fixture['token']}"}
        results: dict[str, tuple[LoadResult, float | None]] = {}
        with ctx.gunicorn(url, workers=WORKERS) as server:
            paths = request_paths(server, headers, fixture["ids"])
            with LoadGenerator(server.host, server.port, processes=CLIENT_PROCESSES, headers=headers) as load:
                ctx.background_cpu()
                _measure(ctx, load, server, "warm-up", [p for group in paths.values() for p in group[:50]], min(WARMUP_S, duration))
                for label, group in paths.items():
                    results[label] = _measure(ctx, load, server, label, group, duration)
        if os.environ.get("BENCH_PROFILE"):
            profile(ctx, paths, fixture["token"])

    figures: list[Figure] = []
    for label, (result, cpu_ms) in results.items():
        rate, p95 = (DETAIL_THROUGHPUT, DETAIL_P95_MS) if label == "detail" else (LIST_THROUGHPUT, LIST_P95_MS)
        figures += [
            Figure(f"{NAME}.{label}.throughput", round(result.throughput, 1), "req/s", ">=", rate),
            Figure(f"{NAME}.{label}.p50", round(result.percentile(50), 2), "ms", "<=", p95),
            Figure(f"{NAME}.{label}.p95", round(result.percentile(95), 2), "ms", "<=", p95),
        ]
        if cpu_ms is not None:
            budget = round(1000 * TARGET_CPUS / rate, 1)
            figures.append(Figure(f"{NAME}.{label}.cpu_per_request", round(cpu_ms, 2), "ms", "<=", budget))
    return figures
