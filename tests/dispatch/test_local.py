"""The local backend end to end (subprocess on this host): dispatch, follow, finish, cancel."""

from __future__ import annotations

import pytest

from apps.dispatch import monitor, services
from apps.dispatch.models import UsageRecord
from apps.jobs.models import Job, JobState, JobTransition
from tests.utils import wait_for

from .factories import make_job

pytestmark = pytest.mark.django_db


def test_approved_job_runs_to_success_on_the_local_runner(local_cluster, member):
    job = make_job(member.memberships.first().project, member, local_cluster, command=["sh", "-c", "echo hello; sleep 0.3"])
    assert services.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHED and job.scheduler_job_id.startswith(f"govhub-{job.pk}-")
    record = UsageRecord.objects.get(pk=job.pk)
    assert record.backend == "local" and record.approved_at and record.submit_started_at and record.recorded_at
    assert record.govhub_dispatch_seconds is not None and record.govhub_dispatch_seconds >= 0

    def finished():
        monitor.poll_cluster(local_cluster.pk)
        return Job.objects.get(pk=job.pk).state == JobState.SUCCEEDED

    wait_for(finished, timeout=20, what="the local job to finish")
    states = list(JobTransition.objects.filter(job=job).values_list("to_state", flat=True))
    assert states[-3:] in (["dispatched", "running", "succeeded"], ["dispatching", "dispatched", "succeeded"])
    record.refresh_from_db()
    assert record.gpu_hours > 0 and record.energy_source == "estimate" and record.cost > 0 and record.co2e_kg > 0


def test_guardrail_cancel_is_recorded_as_requested_then_stopped(local_cluster, member):
    job = make_job(member.memberships.first().project, member, local_cluster, command=["sleep", "60"])
    services.dispatch(job.pk)
    wait_for(lambda: monitor.poll_cluster(local_cluster.pk) and Job.objects.get(pk=job.pk).state == JobState.RUNNING, timeout=10,
             what="running")
    assert monitor.request_cancel(job.pk, "a test says so")
    assert Job.objects.get(pk=job.pk).state == JobState.CANCEL_REQUESTED
    assert monitor.cancel_on_scheduler(job.pk, wait_seconds=5) == "stopped"
    job.refresh_from_db()
    assert job.state == JobState.STOPPED and "gone" in job.state_reason
    assert UsageRecord.objects.get(pk=job.pk).cancel_acked_at is not None
