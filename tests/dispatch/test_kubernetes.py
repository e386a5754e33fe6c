"""Kubernetes: every generated manifest passes strict schema validation (the library and the
``kubernetes-validate --strict`` command), the rules are in the manifest, and the official
client's submit / watch / cancel path works against the API emulator (k8s_emulator.py — there is
no real API server here)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from apps.dispatch import monitor, services
from apps.dispatch.models import ClusterConnection, UsageRecord
from apps.jobs.models import Job, JobState
from tests.utils import wait_for
from workers.dispatch import JobSpec, Phase, SchedulerUnavailable, SubmitRejected, backend_for
from workers.dispatch import k8s_manifest as km

from .factories import DCGM_SAMPLE, IMAGE, make_cluster, make_job
from .k8s_emulator import Emulator

VOLUME = {"name": "scratch", "storage_class": "ceph-rbd-encrypted", "size": "50Gi", "mount_path": "/scratch"}


def spec(job_id: int = 12, gpus: int = 2, **kw) -> JobSpec:
    fields = {"job_id": job_id, "attempt": str(uuid.uuid4()), "decision": "311", "project": "health", "image": IMAGE,
              "command": ("python", "train.py", "--epochs", "3"), "gpus": gpus, "estimated_hours": 1.5,
              "cluster_name": "paris-a100", "region": "eu-west-par", "security_tier": 3, "instance": "govhub_test"}
    fields.update(kw)
    return JobSpec(**fields)


VARIANTS = list(itertools.product(
    [0, 1, 8],  # GPUs
    [{}, {"kueue_queue": "team-a"}],
    [{}, {"encrypted_storage_classes": ["ceph-rbd-encrypted"], "volumes": [VOLUME]}],
    ["eu-west-par", ""],
))


@pytest.mark.parametrize(("gpus", "queue", "volumes", "region"), VARIANTS)
def test_every_generated_manifest_passes_strict_validation(gpus, queue, volumes, region):
    options = {"namespace": "ml-team", **queue, **volumes}
    manifest = km.to_manifest(km.build_job(spec(gpus=gpus, region=region, decision="dec/311 #x"), options))
    km.validate(manifest, "1.33")  # raises on any schema error, unknown fields included
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert manifest["apiVersion"] == "batch/v1" and manifest["kind"] == "Job"
    assert container["image"].endswith("@sha256:" + "ab" * 32)
    if gpus:
        assert container["resources"]["limits"]["nvidia.com/gpu"] == str(gpus)
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    else:
        assert "resources" not in container or "nvidia.com/gpu" not in (container["resources"].get("limits") or {})
    labels = manifest["metadata"]["labels"]
    assert labels[km.LABEL_JOB] == "12" and labels[km.LABEL_DECISION] == "dec-311--x" and labels[km.LABEL_TIER] == "3"
    assert uuid.UUID(labels[km.LABEL_ATTEMPT])
    assert pod["nodeSelector"][km.LABEL_TIER] == "3"
    assert (pod["nodeSelector"].get(km.LABEL_REGION) == region) if region else km.LABEL_REGION not in pod["nodeSelector"]
    assert {"key": km.LABEL_TIER, "operator": "Equal", "value": "3", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["automountServiceAccountToken"] is False
    assert manifest["spec"]["activeDeadlineSeconds"] == 5400 and manifest["spec"]["backoffLimit"] == 0
    assert manifest["spec"]["template"]["metadata"]["labels"] == labels
    if queue:
        assert labels[km.LABEL_KUEUE] == "team-a" and manifest["spec"]["suspend"] is True
    else:
        assert km.LABEL_KUEUE not in labels and "suspend" not in manifest["spec"]
    for volume in pod.get("volumes", []):
        assert set(volume) == {"name", "ephemeral"}  # no emptyDir, hostPath, …
        assert volume["ephemeral"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "ceph-rbd-encrypted"


def test_the_kubernetes_validate_command_accepts_them_strictly(tmp_path: Path):
    paths = []
    for i, (gpus, queue, volumes, region) in enumerate(VARIANTS):
        manifest = km.to_manifest(km.build_job(spec(job_id=100 + i, gpus=gpus, region=region), {"namespace": "ml", **queue, **volumes}))
        path = tmp_path / f"job-{i}.yaml"
        path.write_text(yaml.safe_dump(manifest))
        paths.append(str(path))
    cli = Path(sys.executable).with_name("kubernetes-validate")
    proc = subprocess.run([str(cli), "--strict", "-k", "1.33.0", *paths], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource job/") == len(paths)


def test_manifest_rules_refuse_unpinned_images_unencrypted_volumes_and_unknown_fields():
    with pytest.raises(SubmitRejected, match="pinned by digest"):
        km.build_job(spec(image="registry.example.org/train/llm:latest"), {"namespace": "ml"})
    with pytest.raises(SubmitRejected, match="not one of the cluster's encrypted storage classes"):
        km.build_job(spec(), {"namespace": "ml", "encrypted_storage_classes": ["enc"], "volumes": [{**VOLUME, "storage_class": "standard"}]})
    manifest = km.to_manifest(km.build_job(spec(), {"namespace": "ml"}))
    manifest["spec"]["template"]["spec"]["containers"][0]["gpus"] = 2
    with pytest.raises(SubmitRejected, match="schema"):
        km.validate(manifest)


@pytest.fixture
def emulator():
    with Emulator(token="s3cret") as emu:
        yield emu


@pytest.fixture
def k8s_options(emulator, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    return {"namespace": "ml-team", "host": emulator.url, "token_file": str(token), "verify_ssl": False}


def test_submit_watch_and_cancel_against_the_emulator(emulator, k8s_options):
    backend = backend_for("kubernetes", k8s_options)
    job_spec = spec()
    name = backend.submit(job_spec)
    assert name == job_spec.tag and ("ml-team", name) in emulator.jobs
    assert backend.submit(job_spec) == name  # 409 AlreadyExists: the earlier create went through
    found = backend.find(job_spec)
    assert found is not None and found.scheduler_job_id == name and found.gpus == 2
    wait_for(lambda: backend.status(name).phase == Phase.RUNNING, timeout=5, what="the pretend controller to start it")
    running = backend.status(name)
    assert running.started_at is not None and running.telemetry_match == {"namespace": "ml-team", "pod_prefix": f"{name}-"}
    assert backend.cancel(name)
    assert emulator.jobs[("ml-team", name)]["spec"]["suspend"] is True
    assert backend.status(name).phase == Phase.STOPPING  # marked for deletion, pods going
    gone = backend.wait_gone(name, timeout=10)
    assert gone.phase == Phase.GONE and ("ml-team", name) not in emulator.jobs
    assert ("GET", "/apis/batch/v1/namespaces/ml-team/jobs") in emulator.requests  # the watch
    assert {m for m, _ in emulator.requests} >= {"POST", "GET", "PATCH", "DELETE"}
    assert backend.cancel(name)  # already gone: fine


def test_emulator_refuses_bad_credentials_and_invalid_manifests(emulator, k8s_options, tmp_path):
    (tmp_path / "bad").write_text("wrong")
    with pytest.raises(SchedulerUnavailable):
        backend_for("kubernetes", {**k8s_options, "token_file": str(tmp_path / "bad")}).find(spec())
    status, body = emulator.create("ml-team", {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
                                               "spec": {"template": {"spec": {"containers": [{"name": "c", "bogus": 1}]}}}})
    assert status == 422 and "bogus" in body["message"]


@pytest.mark.django_db
def test_govhub_job_through_the_emulator_with_pod_telemetry(emulator, k8s_options, project, member, reference_data, actor_context,
                                                          tmp_path):
    cluster = make_cluster("paris-k8s", "kubernetes", region="eu-west-par", security_tier=3)
    telemetry = tmp_path / "dcgm.prom"
    ClusterConnection.objects.create(cluster=cluster, backend="kubernetes", options=k8s_options, telemetry_source=str(telemetry))
    job = make_job(project, member, cluster, gpus=1, command=["python", "train.py"])
    assert services.dispatch(job.pk) == "submitted"
    job.refresh_from_db()
    manifest = emulator.jobs[("ml-team", job.scheduler_job_id)]
    assert manifest["metadata"]["labels"][km.LABEL_JOB] == str(job.pk)
    assert manifest["metadata"]["labels"][km.LABEL_PROJECT] == project.slug
    telemetry.write_text(DCGM_SAMPLE.read_text().replace('namespace="ml-team",pod="train-apr-123-x7k2p"',
                                                         f'namespace="ml-team",pod="{job.scheduler_job_id}-x7k2p"'))

    def running():
        monitor.poll_cluster(cluster.pk)
        return Job.objects.get(pk=job.pk).state == JobState.RUNNING

    wait_for(running, timeout=10, what="running")
    monitor.poll_cluster(cluster.pk)
    record = UsageRecord.objects.get(pk=job.pk)
    assert record.energy_source == "telemetry" and record.fb_used_mib == 71290
    assert monitor.request_cancel(job.pk, "a test guardrail")
    assert monitor.cancel_on_scheduler(job.pk, wait_seconds=10) == "stopped"
    assert Job.objects.get(pk=job.pk).state == JobState.STOPPED
    assert ("ml-team", job.scheduler_job_id) not in emulator.jobs
