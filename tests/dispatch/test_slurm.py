"""Against the real single-node Slurm cluster (scripts/slurm/slurm_up.sh): submission with the
requested GPUs, the GPU quota refused before Slurm, telemetry-based energy, the REST and CLI
backends' own behaviour."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from apps.dispatch import monitor, services, usage
from apps.dispatch.models import ClusterConnection, Notification, UsageRecord
from apps.dispatch.services import instance_id
from apps.jobs.models import Job, JobState
from tests.utils import wait_for
from workers.dispatch import JobSpec, Phase, SchedulerUnavailable, SubmitRejected, backend_for

from .factories import DCGM_SAMPLE, IMAGE, make_cluster, make_job

pytestmark = [pytest.mark.slurm, pytest.mark.django_db]


@pytest.fixture
def slurm(slurm_cluster, reference_data, actor_context):
    cluster = make_cluster("slurm-test", "slurm", gpu_count=4)
    ClusterConnection.objects.create(cluster=cluster, backend="slurm_rest", options=slurm_cluster.rest_options())
    yield cluster
    for job in Job.objects.filter(cluster=cluster).exclude(scheduler_job_id=""):
        services.backend_for_cluster(cluster).cancel(job.scheduler_job_id)


def poll_until(cluster, job_id: int, state: str, timeout: float = 20) -> Job:
    def reached():
        monitor.poll_cluster(cluster.pk)
        return Job.objects.get(pk=job_id).state == state

    wait_for(reached, timeout=timeout, interval=0.2, what=f"job {job_id} to be {state}")
    return Job.objects.get(pk=job_id)


def test_approved_job_is_submitted_with_its_gpus_and_runs(slurm, slurm_cluster, project, member):
    job = make_job(project, member, slurm, gpus=2, hours="0.5", command=["sleep", "120"])
    assert services.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    assert job.state == JobState.DISPATCHED and job.scheduler_job_id.isdigit()
    [record] = slurm_cluster.jobs_of(job)
    assert str(record["job_id"]) == job.scheduler_job_id
    assert record["tres_per_node"] == "gres:gpu:2"
    assert record["partition"] == "gpu" and record["account"] == project.slug and record["time_limit"] == 30
    assert record["comment"] == f"govhub:instance={instance_id()},job={job.pk},decision=none,attempt={job.dispatch_attempt}"
    job = poll_until(slurm, job.pk, JobState.RUNNING)
    assert job.started_at is not None
    assert any(j["job_state"] == "RUNNING" for j in slurm_cluster.jobs_of(job))
    usage_record = UsageRecord.objects.get(pk=job.pk)
    assert usage_record.running_seen_at and usage_record.scheduler_tag == record["name"]


def test_second_job_over_the_gpu_quota_is_refused_before_slurm(slurm, slurm_cluster, project, member):
    usage.set_budget(project, amount=Decimal("1000"), max_concurrent_gpus=3)
    first = make_job(project, member, slurm, gpus=2, command=["sleep", "120"])
    second = make_job(project, member, slurm, gpus=2, command=["sleep", "120"])
    assert services.dispatch(first.pk) == "submitted"
    assert services.dispatch(second.pk) == "refused"
    second.refresh_from_db()
    assert second.state == JobState.DENIED and "GPU quota exceeded" in second.state_reason
    assert second.scheduler_job_id == "" and second.dispatch_attempt is None
    assert slurm_cluster.jobs_of(second) == []  # Slurm never saw it
    assert len(slurm_cluster.jobs_of(first)) == 1
    note = Notification.objects.get(job=second)
    assert note.user == member and note.kind == "dispatch_refused"


def test_usage_from_dcgm_telemetry_mapped_by_hpc_job(slurm, slurm_cluster, project, member, tmp_path):
    job = make_job(project, member, slurm, gpus=1, command=["sleep", "120"])
    services.dispatch(job.pk)
    job = poll_until(slurm, job.pk, JobState.RUNNING)
    sample = DCGM_SAMPLE.read_text()
    path = tmp_path / "dcgm.prom"
    ClusterConnection.objects.filter(cluster=slurm).update(telemetry_source=str(path))

    def write(energy_mj: int) -> None:
        # The exporter's HPC job mapping labels series with hpc_job; newer releases spell hostname in lower case.
        text = sample.replace('namespace="ml-team",pod="train-apr-123-x7k2p"', f'hpc_job="{job.scheduler_job_id}"')
        text = text.replace("Hostname=", "hostname=").replace("4187263391", str(energy_mj))
        path.write_text(text)

    write(4_187_263_391)
    monitor.poll_cluster(slurm.pk)
    first = UsageRecord.objects.get(pk=job.pk)
    assert first.energy_source == "telemetry" and first.power_w == pytest.approx(612.437) and first.gpu_util_percent == 97
    assert first.telemetry_counters == {"GPU-3c1f2a7e-9b4d-4e61-a0c2-5d7e8f9a1b2c": 4_187_263_391}
    write(4_187_263_391 + 3_600_000_000)  # + 1 kWh on the job's GPU
    monitor.poll_cluster(slurm.pk)
    second = UsageRecord.objects.get(pk=job.pk)
    assert second.energy_kwh - first.energy_kwh == pytest.approx(1.0)
    assert second.co2e_kg - first.co2e_kg == pytest.approx(0.35)  # 350 g/kWh


def _spec(job_id: int, gpus: int = 1, command=("sleep", "60")) -> JobSpec:
    return JobSpec(job_id=job_id, attempt=str(uuid.uuid4()), decision="42", project="health", image=IMAGE,
                   command=tuple(command), gpus=gpus, estimated_hours=0.1)


def test_cli_backend_submit_status_cancel_and_sacct(slurm_cluster):
    backend = backend_for("slurm_cli", slurm_cluster.cli_options())
    spec = _spec(900_001, gpus=1)
    scheduler_id = backend.submit(spec)
    assert scheduler_id.isdigit()
    found = backend.find(spec)
    assert found is not None and found.scheduler_job_id == scheduler_id and found.gpus == 1
    wait_for(lambda: backend.status(scheduler_id).phase == Phase.RUNNING, timeout=20, what="RUNNING via squeue")
    assert backend.cancel(scheduler_id)
    gone = backend.wait_gone(scheduler_id, timeout=20)
    assert gone.phase == Phase.CANCELLED
    assert backend._sacct(scheduler_id).phase == Phase.CANCELLED  # the completion record (sacct -c)
    assert backend.cancel(scheduler_id)  # cancelling a finished job is fine


def test_rest_backend_rejections(slurm_cluster):
    backend = backend_for("slurm_rest", slurm_cluster.rest_options())
    with pytest.raises(SubmitRejected):
        backend.submit(_spec(900_002, gpus=9))  # more GPUs than the node has
    assert backend.status("99999999").phase == Phase.GONE
    wrong = backend_for("slurm_rest", slurm_cluster.rest_options(user_name="root", token_env="GOVHUB_TEST_NO_SUCH_TOKEN",
                                                                  jwt_key_file=""))
    with pytest.raises(SchedulerUnavailable):
        wrong.find(_spec(900_003))
