"""Real Slurm + real Celery workers: the consent guardrail stopping a running job (STOPPED only
once Slurm reports it gone), and a worker SIGKILLed between submit and record leaving exactly one
Slurm job after a fresh worker reconciles."""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.catalog import services as catalog
from apps.dispatch import monitor
from apps.dispatch.models import ClusterConnection, Notification, UsageRecord
from apps.jobs.models import Job, JobState, JobTransition
from govhub.celery import app as celery_app
from tests.utils import start_celery_worker, stop, wait_for
from workers.dispatch_tasks import dispatch_job, reconcile

from .factories import make_cluster, make_job

pytestmark = [pytest.mark.slurm, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue():
    name = f"test-dispatch-{uuid.uuid4().hex[:10]}"
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = saved


@pytest.fixture
def workers(queue, monkeypatch):
    """start(**env) → a worker process on the private queue; all are stopped at the end."""
    started = []

    def start(**env: str):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        proc = start_celery_worker(connection.settings_dict, queue)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            stop(proc)


@pytest.fixture
def slurm(slurm_cluster, reference_data, actor_context):
    cluster = make_cluster("slurm-test", "slurm", gpu_count=4)
    ClusterConnection.objects.create(cluster=cluster, backend="slurm_rest", options=slurm_cluster.rest_options())
    return cluster


def test_consent_withdrawal_stops_the_running_job_and_stopped_waits_for_slurm(slurm, slurm_cluster, workers, project, member,
                                                                                make_dataset):
    member.email = "milan@example.org"
    member.save(update_fields=["email"])
    consent = catalog.create_consent({"project": project, "reference": "ONCO-2025/117", "legal_basis": "consent",
                                      "purposes": ["research"], "valid_until": timezone.now() + dt.timedelta(days=30)})
    dataset = make_dataset(consent=consent)
    workers()
    # A job that ignores SIGTERM: Slurm keeps it COMPLETING until KillWait (2 s) sends SIGKILL.
    job = make_job(project, member, slurm, gpus=1, inputs=[dataset], command=["bash", "-c", "trap '' TERM; sleep 300 & wait"])
    wait_for(lambda: Job.objects.get(pk=job.pk).state == JobState.DISPATCHED, timeout=30, what="the worker to dispatch")

    def running():
        monitor.poll_cluster(slurm.pk)  # what the monitor beat does each second
        return Job.objects.get(pk=job.pk).state == JobState.RUNNING

    wait_for(running, timeout=30, what="the job to run")
    withdrawn_at = time.monotonic()
    catalog.withdraw_consent(consent, reason="The data subject asked for it.")

    seen, last_on_slurm = [], None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = Job.objects.get(pk=job.pk).state
        slurm_states = {j["job_state"] for j in slurm_cluster.jobs_of(job)}
        seen.append((state, slurm_states))
        if state == JobState.STOPPED:
            break
        if slurm_states & {"RUNNING", "COMPLETING"}:
            last_on_slurm = timezone.now()
        time.sleep(0.1)
    job.refresh_from_db()
    assert job.state == JobState.STOPPED, seen[-5:]
    assert slurm_states == {"CANCELLED"}  # gone from the node when govhub said stopped
    assert any(s == JobState.CANCEL_REQUESTED and "COMPLETING" in sl for s, sl in seen), "never saw cancel requested while Slurm was stopping it"
    stopped_at = JobTransition.objects.get(job=job, to_state=JobState.STOPPED).at
    assert last_on_slurm is not None and stopped_at > last_on_slurm
    requested = JobTransition.objects.get(job=job, to_state=JobState.CANCEL_REQUESTED)
    assert "consent ONCO-2025/117 of its input was withdrawn" in requested.reason
    assert requested.actor_label == "system:dispatch.enforce_consent"
    record = UsageRecord.objects.get(pk=job.pk)
    assert record.cancel_acked_at and record.cancel_acked_at < stopped_at
    assert (record.cancel_acked_at - requested.at).total_seconds() < 2, "cancel not acknowledged within 2 s"
    note = Notification.objects.get(job=job, kind="guardrail_cancel")
    assert note.user == member and "withdrawn" in note.body
    wait_for(lambda: Notification.objects.get(pk=note.pk).emailed_at is not None, timeout=20, what="the email")
    assert time.monotonic() - withdrawn_at < 60


def test_worker_killed_after_submit_leaves_exactly_one_slurm_job(slurm, slurm_cluster, workers, project, member):
    first = workers(GOVHUB_DISPATCH_PAUSE_AFTER_SUBMIT="60")
    job = make_job(project, member, slurm, gpus=1, command=["sleep", "300"])  # approved: the hook enqueues the dispatch
    wait_for(lambda: len(slurm_cluster.jobs_of(job)) == 1, timeout=30, what="the submission to reach Slurm")
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHING and job.dispatch_attempt is not None and job.scheduler_job_id == ""
    os.kill(first.pid, signal.SIGKILL)  # between "submitted to Slurm" and "recorded in govhub"
    first.wait(timeout=10)
    [on_slurm] = slurm_cluster.jobs_of(job)
    assert str(job.dispatch_attempt) in on_slurm["comment"]

    workers(GOVHUB_DISPATCH_PAUSE_AFTER_SUBMIT="0", GOVHUB_DISPATCH_RECONCILE_GRACE="0")
    dispatch_job.delay(job.pk)  # what a redelivery of the lost message would do
    reconcile.delay()  # what the reconcile beat does
    wait_for(lambda: Job.objects.get(pk=job.pk).state in (JobState.DISPATCHED, JobState.RUNNING), timeout=60,
             what="the new worker to reconcile")
    time.sleep(1)  # let the second path finish too
    job.refresh_from_db()
    assert job.scheduler_job_id == str(on_slurm["job_id"])
    assert len(slurm_cluster.jobs_of(job)) == 1
    recorded = JobTransition.objects.get(job=job, to_state=JobState.DISPATCHED)
    assert recorded.reason.startswith("Found on slurm-test")
    assert JobTransition.objects.filter(job=job, to_state=JobState.DISPATCHING).count() == 1
