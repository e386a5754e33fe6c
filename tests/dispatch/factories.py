"""Helpers for dispatch tests: clusters, approved jobs (rows moved with transition(), as the
policy capability would), and the digest-pinned image every job carries."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.jobs.models import Job, JobInput, JobState
from apps.jobs.services import transition

# shared/ lies beside the repository (tests may read it; govhub never does at run time).
DCGM_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "gpu-telemetry" / "dcgm-exporter-sample.txt"
IMAGE = "registry.example.org/train/llm@sha256:" + "ab" * 32


def make_cluster(name: str = "local-test", scheduler: str = "local", **fields: Any):
    from apps.catalog.models import Jurisdiction
    from apps.compute import services
    from apps.compute.models import ComputeCluster

    existing = ComputeCluster.objects.filter(name=name).first()
    if existing is not None:
        return existing
    defaults = {"name": name, "scheduler": scheduler, "jurisdiction": Jurisdiction.objects.get(code="DE"),
                "region": "eu-central-fra", "security_tier": 3, "gpu_model": "NVIDIA H100", "gpu_count": 4,
                "price_per_gpu_hour": Decimal("2.5000"), "power_per_gpu_watts": 700, "carbon_intensity_g_per_kwh": 350}
    defaults.update(fields)
    return services.create_cluster(defaults)


def make_job(project, requester, cluster, *, gpus: int = 1, hours: str = "1", command: list[str] | None = None,
             inputs: list = (), state: str = JobState.APPROVED, **fields: Any) -> Job:
    job = Job.objects.create(project=project, kind="training", purpose="research", image=IMAGE, gpus=gpus,
                             estimated_hours=Decimal(hours), requested_by=requester, target_cluster=cluster,
                             cluster=cluster, command=command if command is not None else ["sleep", "30"], **fields)
    for asset in inputs:
        JobInput.objects.create(job=job, asset=asset)
    if state != JobState.SUBMITTED:
        assert transition(job.pk, JobState.SUBMITTED, JobState.EVALUATING, "test")
        assert transition(job.pk, JobState.EVALUATING, state, "test: allowed by policy")
    return Job.objects.get(pk=job.pk)
