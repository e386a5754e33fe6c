"""The evidence ledger: appends, sequencing latency, a 1,000,000-event export and its offline check.

On a throwaway database (``bench_ledger``):

1. ``export``: 1,000,000 audit events (catalog-update-sized payloads, seeded with one INSERT ...
   SELECT generate_series) are sequenced into the Merkle tree by the real sequencer
   (``ledger.sequencer.catchup``), exported to a signed bundle by ``services.run`` in a fresh
   process (wall time and peak RSS; ``ledger.export.rss_growth`` is the peak RSS of the 1M export
   minus that of a 10,000-event export: flat memory means ~0), and verified by
   ``tools/verify_export.py`` in an isolated interpreter.
2. ``append``: 1, 4 and 16 writer processes each append events for ``ctx.duration`` seconds, one
   transaction per event, sending the INSERT ``audit.record`` sends (same columns, keyed actor
   pseudonym, the txid default) from a plain psycopg connection (one autocommit statement), while
   a sequencer process signs a checkpoint every 0.5 s; then the same writers append to a per-event
   hash chain (lock the head row, read the previous hash, insert the event and its link
   hash(prev || seq || canonical event), update the head, commit: two round trips, the second
   pipelined; see ``_Lean``). Target: >= 3,000
   events/s at 16 writers and >= 3x the hash chain at 16 writers. The same 16 writers through
   ``audit.record`` itself (govhub's own writer, each in a Django ``transaction.atomic``) are
   reported as ``append_record.16w`` and held to the same 3,000 events/s (Django's transaction
   handling costs the same in either design, so the 3x comparison uses the lean writers). 1- and
   4-writer figures and the hash chain have no target of their own (">= 0").
3. ``latency``: a real Celery worker and beat (the 0.5 s ``ledger-sequence`` entry of settings) run
   against the database while 4 writers append ~200 events/s; for each event, the time from its
   ``occurred_at`` to the ``created_at`` of the first signed checkpoint that contains it.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.harness import ROOT, BenchmarkError, Context, Figure

NAME = "ledger"

EXPORT_EVENTS = int(os.environ.get("BENCH_LEDGER_EVENTS", "1000000"))
SMALL_EXPORT = 10_000
WRITER_COUNTS = (1, 4, 16)
APPEND_TARGET = 3000.0  # events/s at 16 writers
CHAIN_FACTOR = 3.0
LATENCY_P95_S = 2.0
EXPORT_S = 120.0
VERIFY_S = 10.0
RSS_GROWTH_MB = 64.0
SEQUENCER_TARGET = APPEND_TARGET  # the sequencer must keep up with the writers it serves
LATENCY_WRITERS, LATENCY_RATE, LATENCY_S = 4, 50.0, 12.0  # per writer: ~200 events/s in all

SEED_SQL = """
INSERT INTO audit_auditevent (occurred_at, actor_id, actor_label, actor_kind, request_id, action, object_type,
                              object_id, object_repr, project_id, before, after, extra, pseudonyms)
SELECT t, NULL, 'system:bench-seed', 'system', md5(g::text), 'catalog.dataset.update', 'catalog.asset', (g %% 5000)::text,
       's3://bench-lake/dataset-' || (g %% 5000), 1 + g %% 4,
       ('{"description": "curated rows of batch ' || (g / 1000) || '", "version": ' || (g %% 97) || ', "tags": ["bench", "batch-'
        || (g / 1000) || '"], "classification": "internal", "updated_at": "' || (t - interval '1 day') || '"}')::jsonb,
       ('{"description": "curated rows of batch ' || (g / 1000) || ', deduplicated", "version": ' || (g %% 97 + 1)
        || ', "tags": ["bench", "batch-' || (g / 1000) || '"], "classification": "internal", "updated_at": "' || t || '"}')::jsonb,
       '{}'::jsonb, '{}'::jsonb
FROM generate_series(1, %(n)s) AS g, LATERAL (SELECT %(t0)s::timestamptz + g * interval '10 milliseconds' AS t) AS times
"""
CHAIN_SQL = """
CREATE TABLE IF NOT EXISTS bench_chain_head (id int PRIMARY KEY, seq bigint NOT NULL, hash bytea NOT NULL);
CREATE TABLE IF NOT EXISTS bench_chain (seq bigint PRIMARY KEY, event_id bigint NOT NULL, hash bytea NOT NULL);
INSERT INTO bench_chain_head VALUES (1, 0, '\\x00') ON CONFLICT DO NOTHING;
"""


def _actor():
    from apps.core.context import Actor

    return Actor(user_id=1, label="bench-writer", kind="human")  # a person: the pseudonym path is exercised


def _payload(writer: int, i: int) -> dict:
    return {"description": f"curated rows of batch {i // 1000}, writer {writer}", "version": i, "tags": ["bench", f"w{writer}"],
            "classification": "internal"}


def _append_ledger(writer: int, i: int, action: str = "bench.append") -> None:
    from django.db import transaction

    from apps import audit

    with transaction.atomic():
        audit.record(action, object_type="catalog.asset", object_id=str(i % 5000), object_repr=f"s3://bench/{i % 5000}",
                     project_id=1 + writer % 4, after=_payload(writer, i), actor=_actor())


# The lean writers send exactly the INSERT that ``audit.record`` sends (same columns, the same
# keyed pseudonym for the actor, the database's txid default), one transaction per event, from a
# plain psycopg connection, each design with the leanest client it allows: an append is one
# statement in autocommit mode (one round trip, its own transaction); a hash-chain append needs
# two round trips inside one transaction, the second while holding the head's row lock (lock and
# read the head; then insert the event and its chain link, update the head and commit, pipelined).
# The chain hashes in the application, as govhub hashes its leaves, over the same canonical JSON.
# The comparison is between the two designs, not of Django's overhead, which is the same for
# both and is measured separately (``orm``: audit.record in transaction.atomic).
_INSERT = ("INSERT INTO audit_auditevent (occurred_at, actor_id, actor_label, actor_kind, request_id, action, object_type, object_id,"
           " object_repr, project_id, before, after, extra, pseudonyms) VALUES (now(), 1, 'bench-writer', 'human', %s, %s,"
           " 'catalog.asset', %s, %s, %s, NULL, %s, '{}', %s)")
_CHAIN_LINK = (f"WITH event AS ({_INSERT} RETURNING id) "
               "INSERT INTO bench_chain (seq, event_id, hash) SELECT %s, id, %s FROM event")


class _Lean:
    def __init__(self, url: str):
        import psycopg
        from django.db import connections, transaction

        from apps.audit import pseudonyms

        with transaction.atomic():  # the same keyed pseudonym audit.record would write
            refs = {"actor": ["user:1", pseudonyms.pseudonym("user:1", "actor", "user:1")]}
        connections.close_all()
        url = url.replace("postgres://", "postgresql://", 1)
        self.auto = psycopg.connect(url, autocommit=True)  # appends: each statement its own transaction
        self.auto_cur = self.auto.cursor()
        self.conn = psycopg.connect(url)  # the chain: two statements in one transaction
        self.cur = self.conn.cursor()
        self.refs = json.dumps(refs)

    def _values(self, writer: int, i: int, action: str, payload: dict) -> list:
        return [os.urandom(16).hex(), action, str(i % 5000), f"s3://bench/{i % 5000}", 1 + writer % 4, json.dumps(payload), self.refs]

    def ledger(self, writer: int, i: int, action: str = "bench.append") -> None:
        self.auto_cur.execute(_INSERT, self._values(writer, i, action, _payload(writer, i)), prepare=True)

    def chain(self, writer: int, i: int) -> None:
        import hashlib

        from apps.audit import canonical

        payload = _payload(writer, i)
        data = canonical.dumps(payload)
        with self.conn.pipeline():
            self.cur.execute("SELECT seq, hash FROM bench_chain_head WHERE id = 1 FOR UPDATE", prepare=True)
            seq, prev = self.cur.fetchone()  # BEGIN and the locking read: the first round trip
            digest = hashlib.sha256(bytes(prev) + seq.to_bytes(8, "big") + data).digest()
            self.cur.execute(_CHAIN_LINK, [*self._values(writer, i, "bench.chain", payload), seq + 1, digest], prepare=True)
            self.cur.execute("UPDATE bench_chain_head SET seq = %s, hash = %s WHERE id = 1", [seq + 1, digest], prepare=True)
            self.conn.commit()  # the second: insert, link, head and COMMIT together


def _writer(kind: str, writer: int, ready, start, stop_at, counts, rate: float = 0.0, url: str = "") -> None:
    from django.db import connections

    connections.close_all()
    if kind in ("ledger", "chain"):
        lean = _Lean(url)
        append = lean.ledger if kind == "ledger" else lean.chain
    else:
        def append(w: int, i: int) -> None:
            _append_ledger(w, i, "bench.latency" if kind == "latency" else "bench.orm")
    i = writer * 10_000_000
    append(writer, i)  # warm: connection, prepared statements, subject key
    ready.release()
    start.wait()
    done, deadline = 0, stop_at.value
    next_at = time.time()
    while time.time() < deadline:
        i += 1
        append(writer, i)
        done += 1
        if rate:
            next_at += 1.0 / rate
            time.sleep(max(0.0, next_at - time.time()))
    counts[writer] = done


def _sequencer_loop(stop, interval: float = 0.5) -> None:
    from django.db import connections

    from apps.audit import sequencer
    from apps.core import context

    connections.close_all()
    with context.acting_as(context.Actor(user_id=None, label="system:bench-sequencer", kind="system")):
        while not stop.is_set():
            sequencer.sequence()
            stop.wait(interval)


def _run_writers(kind: str, n: int, seconds: float, rate: float = 0.0, url: str = "") -> int:
    from django.db import connections

    connections.close_all()
    ctx = mp.get_context("fork")
    ready, start = ctx.Semaphore(0), ctx.Event()
    stop_at = ctx.Value("d", 0.0)
    counts = ctx.Array("q", n)
    procs = [ctx.Process(target=_writer, args=(kind, w, ready, start, stop_at, counts, rate, url), daemon=True) for w in range(n)]
    for p in procs:
        p.start()
    for _ in range(n):
        if not ready.acquire(timeout=120):
            raise BenchmarkError(f"{kind} writers did not start")
    stop_at.value = time.time() + seconds
    start.set()
    for p in procs:
        p.join(timeout=seconds + 120)
        if p.exitcode != 0:
            raise BenchmarkError(f"a {kind} writer exited with {p.exitcode}")
    return sum(counts)


def _pending() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_auditevent e WHERE NOT EXISTS (SELECT 1 FROM audit_logentry l WHERE l.event_id = e.id)")
        return cur.fetchone()[0]


def measure_appends(ctx: Context, url: str) -> dict[tuple[str, int], float]:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(CHAIN_SQL)
    rates: dict[tuple[str, int], float] = {}
    seconds = ctx.duration
    for n in WRITER_COUNTS:
        stop = mp.get_context("fork").Event()
        seq = mp.get_context("fork").Process(target=_sequencer_loop, args=(stop,), daemon=True)
        seq.start()
        try:
            rates[("ledger", n)] = _run_writers("ledger", n, seconds, url=url) / seconds
            if n == WRITER_COUNTS[-1]:
                rates[("orm", n)] = _run_writers("orm", n, seconds) / seconds
        finally:
            stop.set()
            seq.join(timeout=60)
        lag = _pending()
        ctx.log(f"ledger append, {n:2d} writers: {rates[('ledger', n)]:8.0f} events/s (sequencer running; {lag} events left unsequenced)")
        if ("orm", n) in rates:
            ctx.log(f"  through audit.record in transaction.atomic, {n} writers: {rates[('orm', n)]:.0f} events/s")
        rates[("chain", n)] = _run_writers("chain", n, seconds, url=url) / seconds
        ctx.log(f"hash chain,    {n:2d} writers: {rates[('chain', n)]:8.0f} events/s")
    return rates


def measure_latency(ctx: Context, url: str) -> list[float]:
    from django.db import connection

    from apps.audit import sequencer

    sequencer.sequence()
    env = ctx.server_env(url)
    env["GOVHUB_CELERY_QUEUE"] = f"bench-ledger-{os.getpid()}"
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    log = open(ctx.out_dir / "ledger-celery.log", "w")
    celery = [sys.executable, "-m", "celery", "-A", "govhub"]
    worker = subprocess.Popen([*celery, "worker", "-l", "WARNING", "-Q", env["GOVHUB_CELERY_QUEUE"], "--pool", "solo",
                               "--without-heartbeat", "--without-mingle", "--without-gossip"], cwd=ROOT, env=env, stdout=log, stderr=log)
    beat = subprocess.Popen([*celery, "beat", "-l", "WARNING", "-s", str(ctx.out_dir / "ledger-beat-schedule")],
                            cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT coalesce(max(tree_size), 0) FROM audit_checkpoint")
            before = cur.fetchone()[0]
        _append_ledger(0, 1, "bench.latency-warmup")
        deadline = time.time() + 60
        while time.time() < deadline:
            with connection.cursor() as cur:
                cur.execute("SELECT coalesce(max(tree_size), 0) FROM audit_checkpoint")
                if cur.fetchone()[0] > before:
                    break
            time.sleep(0.2)
        else:
            raise BenchmarkError("the Celery worker and beat signed no checkpoint within 60 s (see benchmarks/out/ledger-celery.log)")
        written = _run_writers("latency", LATENCY_WRITERS, LATENCY_S, rate=LATENCY_RATE)
        time.sleep(3.0)
        with connection.cursor() as cur:
            cur.execute("""
                SELECT extract(epoch FROM c.created_at - e.occurred_at)
                FROM audit_auditevent e JOIN audit_logentry l ON l.event_id = e.id
                CROSS JOIN LATERAL (SELECT created_at FROM audit_checkpoint c WHERE c.tree_size > l.log_index
                                    ORDER BY c.tree_size LIMIT 1) c
                WHERE e.action = 'bench.latency'""")
            latencies = sorted(float(r[0]) for r in cur.fetchall())
        if len(latencies) < written:
            raise BenchmarkError(f"only {len(latencies)} of {written} events reached a signed checkpoint within 3 s of the last write")
        ctx.log(f"latency: {written} events at ~{LATENCY_WRITERS * LATENCY_RATE:.0f}/s; insert -> signed checkpoint "
                f"p50 {statistics.median(latencies):.3f} s, p95 {_pct(latencies, 95):.3f} s, max {latencies[-1]:.3f} s")
        return latencies
    finally:
        for proc in (beat, worker):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


EXPORT_CHILD = """
import json, resource, sys, time, datetime as dt
import django; django.setup()
from apps.core import context
from apps.evidence import services
since, until = dt.datetime.fromisoformat(sys.argv[1]), dt.datetime.fromisoformat(sys.argv[2])
with context.acting_as(context.Actor(user_id=None, label="bench:export", kind="system")):
    started = time.perf_counter()
    export = services.request_export(None, since=since, until=until, enqueue=False)
    export = services.run(export.pk)
    seconds = time.perf_counter() - started
print(json.dumps({"state": export.state, "error": export.error, "path": export.file_name, "events": export.events_in_scope,
                  "size": export.file_size, "seconds": seconds, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _export(ctx: Context, url: str, since, until) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", EXPORT_CHILD, since.isoformat(), until.isoformat()], cwd=ROOT, env=ctx.server_env(url),
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise BenchmarkError(f"export failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["state"] != "done":
        raise BenchmarkError(f"export failed: {result['error']}")
    return result


def measure_export(ctx: Context, url: str) -> dict[str, float]:
    import datetime as dt

    from django.db import connection

    from apps.audit import sequencer
    from apps.core import context

    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(SEED_SQL, {"t0": t0, "n": EXPORT_EVENTS})
        cur.execute("ANALYZE audit_auditevent")
    ctx.log(f"seeded {EXPORT_EVENTS} events in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    with context.acting_as(context.Actor(user_id=None, label="system:bench-sequencer", kind="system")):
        added = sequencer.sequence(max_batches=10_000)
    seq_s = time.perf_counter() - started
    ctx.log(f"sequenced {added} events into the tree in {seq_s:.1f} s ({added / seq_s:.0f} events/s)")
    with connection.cursor() as cur:
        cur.execute("ANALYZE audit_logentry; ANALYZE audit_treenode")
    end = t0 + dt.timedelta(milliseconds=10 * (EXPORT_EVENTS + 1))
    small = _export(ctx, url, t0, t0 + dt.timedelta(milliseconds=10 * (SMALL_EXPORT + 1)))
    big = _export(ctx, url, t0, end)
    if big["events"] != EXPORT_EVENTS:
        raise BenchmarkError(f"the export holds {big['events']} events, expected {EXPORT_EVENTS}")
    ctx.log(f"export of {big['events']} events: {big['seconds']:.1f} s, bundle {big['size'] / 1e6:.0f} MB, peak RSS "
            f"{big['peak_rss_kb'] / 1024:.0f} MB (a {SMALL_EXPORT}-event export peaks at {small['peak_rss_kb'] / 1024:.0f} MB)")
    started = time.perf_counter()
    check = subprocess.run([sys.executable, "-I", str(ROOT / "tools" / "verify_export.py"), big["path"]], capture_output=True, text=True,
                           timeout=600)
    verify_s = time.perf_counter() - started
    if check.returncode != 0:
        raise BenchmarkError(f"the exported bundle does not verify: {check.stderr[-2000:]}")
    ctx.log(f"offline verification: {verify_s:.1f} s; {check.stdout.strip().splitlines()[-2 if 'note:' in check.stdout else -1][:200]}")
    for r in (small, big):
        os.unlink(r["path"])
    return {"sequencer": added / seq_s, "export_s": big["seconds"], "peak_rss_mb": big["peak_rss_kb"] / 1024,
            "rss_growth_mb": (big["peak_rss_kb"] - small["peak_rss_kb"]) / 1024, "verify_s": verify_s}


def run(ctx: Context) -> list[Figure]:
    import tempfile

    os.environ["GOVHUB_EXPORT_DIR"] = tempfile.mkdtemp(prefix="bench-ledger-")
    os.environ["GOVHUB_CHECKPOINT_DIR"] = os.path.join(os.environ["GOVHUB_EXPORT_DIR"], "checkpoints")
    if not ctx.redis_url:
        raise BenchmarkError("REDIS_URL is not set: the latency measurement runs a real Celery worker and beat")
    with ctx.bench_database() as url:
        ctx.django_setup(url)
        exported = measure_export(ctx, url)
        rates = measure_appends(ctx, url)
        latencies = measure_latency(ctx, url)
    best_chain = max(rates[("chain", n)] for n in WRITER_COUNTS)
    figures = [Figure(f"{NAME}.append.{n}w", round(rates[("ledger", n)], 1), "events/s", ">=", APPEND_TARGET if n == 16 else 0)
               for n in WRITER_COUNTS]
    figures += [Figure(f"{NAME}.hashchain.{n}w", round(rates[("chain", n)], 1), "events/s", ">=", 0) for n in WRITER_COUNTS]
    figures.append(Figure(f"{NAME}.append_record.16w", round(rates[("orm", 16)], 1), "events/s", ">=", APPEND_TARGET))
    figures += [
        Figure(f"{NAME}.append.16w_vs_hashchain", round(rates[("ledger", 16)] / rates[("chain", 16)], 2), "x", ">=", CHAIN_FACTOR),
        Figure(f"{NAME}.append.16w_vs_best_hashchain", round(rates[("ledger", 16)] / best_chain, 2), "x", ">=", CHAIN_FACTOR),
        Figure(f"{NAME}.checkpoint_latency.p50", round(statistics.median(latencies), 3), "s", "<=", LATENCY_P95_S),
        Figure(f"{NAME}.checkpoint_latency.p95", round(_pct(latencies, 95), 3), "s", "<=", LATENCY_P95_S),
        Figure(f"{NAME}.sequencer.catchup", round(exported["sequencer"], 1), "events/s", ">=", SEQUENCER_TARGET),
        Figure(f"{NAME}.export.1m", round(exported["export_s"], 1), "s", "<=", EXPORT_S),
        Figure(f"{NAME}.export.peak_rss", round(exported["peak_rss_mb"], 1), "MB", "<=", 512),
        Figure(f"{NAME}.export.rss_growth", round(exported["rss_growth_mb"], 1), "MB", "<=", RSS_GROWTH_MB),
        Figure(f"{NAME}.verify.1m", round(exported["verify_s"], 2), "s", "<=", VERIFY_S),
    ]
    return figures
