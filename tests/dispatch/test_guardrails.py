"""Runtime guardrails on the local runner (time limit, policy flag, consent expiry), the hooks
that start them, and the backends' plain-data pieces (batch scripts, REST dialects, states)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.catalog import services as catalog
from apps.dispatch import hooks, monitor, services
from apps.dispatch.models import ClusterConnection
from apps.jobs.models import Job, JobState
from tests.utils import wait_for
from workers.dispatch import JobSpec, Phase
from workers.dispatch.slurm import batch_script, phase_of, status_from_record
from workers.dispatch.slurm_rest import SlurmRestBackend

from .factories import IMAGE, make_job


def _running(cluster, job) -> Job:
    services.dispatch(job.pk)
    wait_for(lambda: monitor.poll_cluster(cluster.pk) and Job.objects.get(pk=job.pk).state == JobState.RUNNING, timeout=10,
             what="running")
    return Job.objects.get(pk=job.pk)


@pytest.mark.django_db
def test_a_job_past_its_time_limit_is_stopped(local_cluster, project, member):
    job = _running(local_cluster, make_job(project, member, local_cluster, hours="0.01", command=["sleep", "60"]))  # 36 s
    Job.objects.filter(pk=job.pk).update(estimated_hours=Decimal("0.0001"))  # it has now overrun
    monitor.poll_cluster(local_cluster.pk)
    job.refresh_from_db()
    assert job.state == JobState.CANCEL_REQUESTED and "ran past its time limit" in job.state_reason
    assert monitor.cancel_on_scheduler(job.pk, wait_seconds=5) == "stopped"


@pytest.mark.django_db
def test_a_job_the_policy_engine_flags_is_stopped(local_cluster, project, member):
    job = _running(local_cluster, make_job(project, member, local_cluster, command=["sleep", "60"]))
    Job.objects.filter(pk=job.pk).update(guardrail_violation="residency: the data may not leave the EU", flagged_at=timezone.now())
    from workers.dispatch_tasks import enforce_policy_flag

    assert enforce_policy_flag(job.pk) is True
    job.refresh_from_db()
    assert job.state == JobState.CANCEL_REQUESTED and "a policy now denies it: residency" in job.state_reason
    monitor.cancel_on_scheduler(job.pk, wait_seconds=5)


@pytest.mark.django_db
def test_an_expired_consent_stops_the_job_on_the_next_poll(local_cluster, project, member, make_dataset):
    consent = catalog.create_consent({"project": project, "reference": "C-1", "legal_basis": "consent", "purposes": ["research"],
                                      "valid_from": timezone.now() - dt.timedelta(days=1),
                                      "valid_until": timezone.now() + dt.timedelta(days=1)})
    job = _running(local_cluster, make_job(project, member, local_cluster, command=["sleep", "60"], inputs=[make_dataset(consent=consent)]))
    catalog_model = type(consent)
    catalog_model.objects.filter(pk=consent.pk).update(valid_until=timezone.now() - dt.timedelta(seconds=1))  # expiry is computed
    monitor.poll_cluster(local_cluster.pk)
    job.refresh_from_db()
    assert job.state == JobState.CANCEL_REQUESTED and "consent C-1 of its input expired" in job.state_reason
    monitor.cancel_on_scheduler(job.pk, wait_seconds=5)


@pytest.mark.django_db
def test_refused_when_an_input_consent_is_withdrawn(local_cluster, project, member, make_dataset):
    consent = catalog.create_consent({"project": project, "reference": "C-2", "legal_basis": "consent", "purposes": ["research"]})
    job = make_job(project, member, local_cluster, inputs=[make_dataset(consent=consent)])
    with mock.patch("apps.catalog.services.CONSENT_CHANGE_HOOKS", []):
        catalog.withdraw_consent(consent, reason="asked")
    assert services.dispatch(job.pk) == "refused"
    assert "withdrawn" in Job.objects.get(pk=job.pk).state_reason


def test_hooks_are_registered_and_enqueue():
    from apps.catalog.services import CONSENT_CHANGE_HOOKS
    from apps.jobs.services import TRANSITION_HOOKS
    from apps.policy.hooks import POLICY_FLAG_HOOKS

    assert hooks.on_transition in TRANSITION_HOOKS and hooks.on_consent_change in CONSENT_CHANGE_HOOKS
    assert hooks.on_policy_flag in POLICY_FLAG_HOOKS
    with mock.patch("workers.dispatch_tasks.dispatch_job.delay") as delay:
        hooks.on_transition(7, JobState.EVALUATING, JobState.APPROVED)
        hooks.on_transition(7, JobState.SUBMITTED, JobState.EVALUATING)
    delay.assert_called_once_with(7)


@pytest.mark.django_db
def test_connection_options_are_validated(reference_data, actor_context):
    from .factories import make_cluster

    conn = ClusterConnection(cluster=make_cluster("s", "slurm"), backend="slurm_rest", options={"url": "ftp://x"})
    with pytest.raises(ValidationError, match="url"):
        conn.full_clean()
    conn.options = {"url": "http://slurm:6820", "user_name": "govhub", "token_env": "SLURM_JWT", "api_version": "v0.0.99"}
    with pytest.raises(ValidationError, match="api_version"):
        conn.full_clean()
    conn.options["api_version"] = "v0.0.41"
    conn.full_clean()


SPEC = JobSpec(job_id=12, attempt="0f6c2a4e-1111-4222-8333-444455556666", decision="311", project="health", image=IMAGE,
               command=("python", "train.py", "--name", "it's"), gpus=2, estimated_hours=1.25, instance="prod")


def test_batch_script_carries_the_request():
    script = batch_script(SPEC, {"partition": "gpu", "output": "/var/log/%j.out"})
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --job-name=govhub-12-0f6c2a4e" in lines and "#SBATCH --gres=gpu:2" in lines
    assert "#SBATCH --partition=gpu" in lines and "#SBATCH --time=1:15:00" in lines and "#SBATCH --account=health" in lines
    assert "#SBATCH --comment=govhub:instance=prod,job=12,decision=311,attempt=0f6c2a4e-1111-4222-8333-444455556666" in lines
    assert lines[-1] == "exec python train.py --name 'it'\"'\"'s'"
    pyxis = batch_script(SPEC, {"container_flag": "--container-image"})
    assert pyxis.splitlines()[-1].startswith(f"exec srun --container-image={IMAGE} python")


def test_rest_dialects_by_api_version():
    base = {"url": "http://slurm:6820", "user_name": "govhub", "token_env": "X", "partition": "gpu"}
    old = SlurmRestBackend({**base, "api_version": "v0.0.38"}).submission(SPEC)
    assert old["job"]["gres"] == "gpu:2" and old["job"]["time_limit"] == 75 and isinstance(old["job"]["environment"], dict)
    assert old["script"].startswith("#!/bin/bash")
    new = SlurmRestBackend({**base, "api_version": "v0.0.41"}).submission(SPEC)
    assert "script" not in new and new["job"]["script"].startswith("#!/bin/bash")
    assert new["job"]["tres_per_node"] == "gres/gpu:2" and new["job"]["time_limit"] == {"set": True, "infinite": False, "number": 75}
    assert "GOVHUB_JOB_ID=12" in new["job"]["environment"]
    assert SlurmRestBackend({**base, "api_version": "v0.0.41"}).base == "http://slurm:6820/slurm/v0.0.41"


def test_slurm_states_old_and_new_shapes():
    assert phase_of("RUNNING") == (Phase.RUNNING, "RUNNING")
    assert phase_of(["CANCELLED", "COMPLETING"])[0] == Phase.STOPPING
    assert phase_of("COMPLETING")[0] == Phase.STOPPING and phase_of("TIMEOUT")[0] == Phase.FAILED
    new = status_from_record({"job_id": 5, "job_state": ["RUNNING"], "start_time": {"set": True, "number": 1_700_000_000},
                              "tres_per_node": "gres/gpu:4", "name": "govhub-1-aaaaaaaa"})
    assert new.phase == Phase.RUNNING and new.gpus == 4 and new.started_at.year == 2023 and new.telemetry_match == {"hpc_job": "5"}


def test_spec_tag_and_limits():
    spec = JobSpec(job_id=123456, attempt=str(uuid.uuid4()), decision="", project="p", image=IMAGE, command=("true",), gpus=0,
                   estimated_hours=0.001)
    assert len(spec.tag) <= 63 and spec.time_limit_seconds == 60 and spec.time_limit_minutes == 1
