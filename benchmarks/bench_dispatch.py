"""Dispatch latency on a real single-node Slurm (scripts/slurm/slurm_up.sh, its own ports and
directory) with a real Celery worker (prefork, 2 processes) and Celery beat, against a throwaway
database.

1. approved → RUNNING: a job moved to APPROVED (as the policy engine does) is dispatched by the
   worker through slurmrestd; the benchmark watches Slurm (REST, every 10 ms) for RUNNING.
   govhub's own share = approved → the submit request leaves + the submit answer → recorded
   (UsageRecord timings), i.e. everything but Slurm's own work. Target: p95 ≤ 100 ms.
2. guardrail → cancel acknowledged by Slurm: (a) a consent withdrawal (the hook path: consent
   hook → worker → CANCEL_REQUESTED → scancel via REST); (b) a policy flag written without its
   hook, found by the monitor beat (every GOVHUB_DISPATCH_MONITOR_INTERVAL = 1 s). Acknowledged =
   Slurm reports the job no longer RUNNING (COMPLETING or CANCELLED). Target: p95 ≤ 2 s.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks.harness import ROOT, BenchmarkError, Context, Figure

NAME = "dispatch"
SLURM_DIR = Path("/tmp/govhub-slurm-bench")  # noqa: S108
PORTS = {"CTLD_PORT": "18817", "SLURMD_PORT": "18818", "DBD_PORT": "18819", "REST_PORT": "18820"}
DISPATCH_JOBS = int(os.environ.get("BENCH_DISPATCH_JOBS", "30"))
CANCEL_JOBS = int(os.environ.get("BENCH_CANCEL_JOBS", "20"))


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


@contextlib.contextmanager
def slurm(ctx: Context):
    env = {**os.environ, **PORTS, "SLURM_DIR": str(SLURM_DIR), "WITH_DBD": "0", "KILL_WAIT": "2"}
    down = ["bash", str(ROOT / "scripts/slurm/slurm_down.sh")]
    subprocess.run(down, env={**env, "PURGE": "1"}, capture_output=True, timeout=120, check=False)
    up = subprocess.run(["bash", str(ROOT / "scripts/slurm/slurm_up.sh")], env=env, capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        raise BenchmarkError(f"slurm_up.sh failed:\n{up.stdout[-2000:]}\n{up.stderr[-2000:]}")
    ctx.log(up.stdout.strip().splitlines()[-3] if up.stdout else "slurm up")
    try:
        yield SLURM_DIR
    finally:
        subprocess.run(down, env={**env, "PURGE": "1"}, capture_output=True, timeout=120, check=False)
        ctx.log("slurm stopped")


@contextlib.contextmanager
def celery(ctx: Context, url: str, queue: str):
    env = {**ctx.server_env(url), "GOVHUB_CELERY_QUEUE": queue}
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for role, args in (("worker", ["worker", "-Q", queue, "--concurrency", "2", "--without-gossip", "--without-mingle"]),
                       ("beat", ["beat", "--schedule", str(ctx.out_dir / f"celerybeat-{queue}")])):
        log = open(ctx.out_dir / f"dispatch-{role}.log", "w")  # noqa: SIM115 - closed with the process
        procs.append((subprocess.Popen([sys.executable, "-m", "celery", "-A", "govhub", *args, "-l", "INFO"], cwd=ROOT, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
    try:
        yield
    finally:
        for proc, log in procs:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
            log.close()


def run(ctx: Context) -> list[Figure]:
    queue = f"bench-dispatch-{uuid.uuid4().hex[:8]}"
    os.environ["GOVHUB_CELERY_QUEUE"] = queue
    with ctx.bench_database() as url, slurm(ctx) as base:
        ctx.django_setup(url)
        setup = _setup(base)
        ctx.background_cpu()
        with celery(ctx, url, queue):
            _wait_for_worker(setup)
            dispatch = _measure_dispatch(ctx, setup)
            consent = _measure_cancel(ctx, setup, "consent")
            beat = _measure_cancel(ctx, setup, "beat")
    return [
        Figure("dispatch.govhub_overhead.p95", 1000 * p(dispatch["own"], 0.95), "ms", "<=", 100),
        Figure("dispatch.govhub_overhead.p50", 1000 * p(dispatch["own"], 0.5), "ms", "<=", 100),
        Figure("dispatch.approved_to_running.p95", 1000 * p(dispatch["total"], 0.95), "ms", "<=", 2000),
        Figure("dispatch.approved_to_running.p50", 1000 * p(dispatch["total"], 0.5), "ms", "<=", 2000),
        Figure("cancel.consent_to_ack.p95", 1000 * p(consent, 0.95), "ms", "<=", 2000),
        Figure("cancel.consent_to_ack.p50", 1000 * p(consent, 0.5), "ms", "<=", 2000),
        Figure("cancel.beat_flag_to_ack.p95", 1000 * p(beat, 0.95), "ms", "<=", 2000),
        Figure("cancel.beat_flag_to_ack.p50", 1000 * p(beat, 0.5), "ms", "<=", 2000),
    ]


def _setup(base: Path) -> dict:
    from decimal import Decimal

    from apps.accounts import services as accounts
    from apps.catalog.models import Jurisdiction
    from apps.compute import services as compute
    from apps.core import context
    from apps.dispatch.models import ClusterConnection
    from workers.dispatch import backend_for

    with context.acting_as(context.Actor(None, "bench", "system")):
        project = accounts.create_project({"slug": "bench", "name": "Bench"})
        person = accounts.create_person("bench-user", password="correct-horse-battery")
        accounts.set_membership(person, project, "ml_engineer")
        cluster = compute.create_cluster({"name": "bench-slurm", "scheduler": "slurm", "jurisdiction": Jurisdiction.objects.get(code="DE"),
                                          "security_tier": 3, "gpu_count": 4, "price_per_gpu_hour": Decimal("2")})
        options = {"url": f"http://127.0.0.1:{PORTS['REST_PORT']}", "api_version": "v0.0.38", "user_name": "root",
                   "jwt_key_file": str(base / "jwt" / "jwt_hs256.key"), "partition": "gpu", "output": "/dev/null"}
        ClusterConnection.objects.create(cluster=cluster, backend="slurm_rest", options=options)
    return {"project": project, "person": person, "cluster": cluster, "rest": backend_for("slurm_rest", options)}


def _new_job(setup: dict, inputs=()):
    from decimal import Decimal

    from apps.jobs.models import Job, JobInput, JobState
    from apps.jobs.services import transition

    job = Job.objects.create(project=setup["project"], kind="training", purpose="research", gpus=1, estimated_hours=Decimal("1"),
                             image="registry.example.org/bench@sha256:" + "0" * 64, command=["sleep", "300"],
                             requested_by=setup["person"], cluster=setup["cluster"], target_cluster=setup["cluster"])
    for asset in inputs:
        JobInput.objects.create(job=job, asset=asset)
    transition(job.pk, JobState.SUBMITTED, JobState.EVALUATING, "bench")
    return job


def _slurm_state(setup: dict, job_id: int) -> str | None:
    from apps.dispatch.services import instance_id

    marker = f"govhub:instance={instance_id()},job={job_id},"
    for record in setup["rest"]._jobs():
        if str(record.get("comment", "")).startswith(marker):
            return str(record.get("job_state"))
    return None


def _wait(predicate, timeout: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise BenchmarkError(f"timed out after {timeout} s waiting for {what}")


def _wait_for_worker(setup: dict) -> None:
    """One job through the whole path before measuring (worker and beat started, imports warm)."""
    _run_one(setup, timeout=120)


def _run_one(setup: dict, timeout: float = 30) -> tuple[float, float, int]:
    from apps.dispatch.models import UsageRecord
    from apps.jobs.models import Job, JobState, JobTransition
    from apps.jobs.services import transition

    job = _new_job(setup)
    started = time.monotonic()
    transition(job.pk, JobState.EVALUATING, JobState.APPROVED, "bench: allowed")  # the hook enqueues the dispatch
    _wait(lambda: _slurm_state(setup, job.pk) == "RUNNING", timeout, f"job {job.pk} RUNNING in Slurm")
    total = time.monotonic() - started
    record = _wait(lambda: UsageRecord.objects.filter(pk=job.pk, recorded_at__isnull=False).first(), 10, "the record")
    scheduler_id = Job.objects.get(pk=job.pk).scheduler_job_id
    setup["rest"].cancel(scheduler_id)
    intent = JobTransition.objects.get(job_id=job.pk, to_state=JobState.DISPATCHING).at
    setup.setdefault("pickup", []).append((intent - record.approved_at).total_seconds())  # queue + worker + checks
    return record.govhub_dispatch_seconds, total, job.pk


def _measure_dispatch(ctx: Context, setup: dict) -> dict[str, list[float]]:
    own, total = [], []
    for _ in range(DISPATCH_JOBS):
        govhub, whole, _job = _run_one(setup)
        own.append(govhub)
        total.append(whole)
        time.sleep(0.2)  # let the cancelled job leave its GPU
    ctx.log(f"dispatch: govhub p50 {1000 * p(own, .5):.1f} ms p95 {1000 * p(own, .95):.1f} ms max {1000 * max(own):.1f} ms; "
            f"approved→RUNNING p50 {1000 * p(total, .5):.0f} ms p95 {1000 * p(total, .95):.0f} ms; of govhub's share, "
            f"approved→intent recorded (broker, worker pickup, checks) p50 {1000 * p(setup['pickup'][1:], .5):.1f} ms "
            f"p95 {1000 * p(setup['pickup'][1:], .95):.1f} ms")
    return {"own": own, "total": total}


def _measure_cancel(ctx: Context, setup: dict, how: str) -> list[float]:
    from django.utils import timezone

    from apps.catalog import services as catalog
    from apps.core import context
    from apps.jobs.models import Job, JobState
    from apps.jobs.services import transition

    samples = []
    with context.acting_as(context.Actor(None, "bench", "system")):
        for i in range(CANCEL_JOBS):
            inputs = []
            if how == "consent":
                consent = catalog.create_consent({"project": setup["project"], "reference": f"B-{uuid.uuid4().hex[:6]}",
                                                  "legal_basis": "consent", "purposes": ["research"]})
                inputs = [catalog.create_asset("dataset", {"project": setup["project"], "namespace": "s3://bench",
                                                           "name": f"{how}-{i}-{uuid.uuid4().hex[:6]}", "consent": consent})]
            job = _new_job(setup, inputs)
            transition(job.pk, JobState.EVALUATING, JobState.APPROVED, "bench: allowed")
            _wait(lambda job=job: Job.objects.get(pk=job.pk).state == JobState.RUNNING, 30, "govhub to see it running", 0.02)
            started = time.monotonic()
            if how == "consent":
                catalog.withdraw_consent(consent, reason="bench")
            else:  # a policy flag without its hook: only the monitor beat notices it
                Job.objects.filter(pk=job.pk).update(guardrail_violation="bench: denied", flagged_at=timezone.now())
            _wait(lambda job=job: _slurm_state(setup, job.pk) not in ("RUNNING", None), 30, "Slurm to acknowledge the cancel")
            samples.append(time.monotonic() - started)
            _wait(lambda job=job: Job.objects.get(pk=job.pk).state == JobState.STOPPED, 60, "govhub to record stopped", 0.05)
    ctx.log(f"cancel via {how}: p50 {1000 * p(samples, .5):.0f} ms p95 {1000 * p(samples, .95):.0f} ms max {1000 * max(samples):.0f} ms")
    return samples
