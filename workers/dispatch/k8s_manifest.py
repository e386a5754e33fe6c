"""Kubernetes batch/v1 Job manifests for govhub jobs, built with the official client's models and
checked against the Kubernetes JSON schemas (kubernetes-validate, strict) before anything is
sent. Rules enforced here, not left to the cluster:

- the image is pinned by digest (``…@sha256:<64 hex>``);
- ``nvidia.com/gpu`` limits = requests = the job's GPUs;
- node selector + toleration for the cluster's region and security tier, and a ``security-tier``
  label on the Job and its pods;
- pods run as non-root (``runAsNonRoot``, no privilege escalation, all capabilities dropped,
  RuntimeDefault seccomp), no service-account token unless configured;
- volumes only from storage classes the cluster lists as encrypted (no emptyDir or hostPath);
- ``activeDeadlineSeconds`` from the estimated hours; no retries (``backoffLimit: 0``);
- labels with the govhub job id, decision and dispatch attempt; optionally Kueue's queue label
  (then the Job is created suspended and Kueue admits it).
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes import client

from .base import JobSpec, SubmitRejected

LABEL_INSTANCE = "govhub.io/instance"
LABEL_JOB = "govhub.io/job-id"
LABEL_DECISION = "govhub.io/decision-id"
LABEL_ATTEMPT = "govhub.io/dispatch-attempt"
LABEL_PROJECT = "govhub.io/project"
LABEL_TIER = "govhub.io/security-tier"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_KUEUE = "kueue.x-k8s.io/queue-name"
DIGEST = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]")
DEFAULT_K8S_VERSION = "1.33"


def label_value(text: str) -> str:
    """A valid label value (≤ 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    return _LABEL_VALUE.sub("-", str(text))[:63].strip("-_.") or "none"


def build_job(spec: JobSpec, options: dict[str, Any]) -> client.V1Job:
    if not DIGEST.match(spec.image or ""):
        raise SubmitRejected(f"the image must be pinned by digest (name@sha256:…), not {spec.image!r}")
    if not spec.command:
        raise SubmitRejected("the job has no command")
    tier = str(spec.security_tier)
    labels = {
        LABEL_INSTANCE: label_value(spec.instance), LABEL_JOB: str(spec.job_id), LABEL_DECISION: label_value(spec.decision or "none"),
        LABEL_ATTEMPT: spec.attempt, LABEL_PROJECT: label_value(spec.project), LABEL_TIER: tier,
        "app.kubernetes.io/managed-by": "govhub",
    }
    if options.get("kueue_queue"):
        labels[LABEL_KUEUE] = label_value(options["kueue_queue"])
    node_selector = {LABEL_TIER: tier}
    if spec.region:
        node_selector[LABEL_REGION] = spec.region
    tolerations = [client.V1Toleration(key=LABEL_TIER, operator="Equal", value=tier, effect="NoSchedule")]
    if spec.region:
        tolerations.append(client.V1Toleration(key=LABEL_REGION, operator="Equal", value=spec.region, effect="NoSchedule"))
    if spec.gpus:
        tolerations.append(client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"))
    gpu = {"nvidia.com/gpu": str(spec.gpus)} if spec.gpus else {}
    resources = client.V1ResourceRequirements(
        limits={**gpu, **options.get("limits", {})} or None, requests={**gpu, **options.get("requests", {})} or None)
    volumes, mounts = _volumes(options)
    container = client.V1Container(
        name="job", image=spec.image, command=list(spec.command), resources=resources,
        env=[client.V1EnvVar(name=k, value=v) for k, v in sorted(spec.environment().items())],
        volume_mounts=mounts or None,
        security_context=client.V1SecurityContext(
            allow_privilege_escalation=False, read_only_root_filesystem=bool(options.get("read_only_root", False)),
            run_as_non_root=True, capabilities=client.V1Capabilities(drop=["ALL"])),
    )
    pod_spec = client.V1PodSpec(
        restart_policy="Never", containers=[container], node_selector=node_selector, tolerations=tolerations,
        volumes=volumes or None, automount_service_account_token=bool(options.get("service_account")),
        service_account_name=options.get("service_account") or None,
        security_context=client.V1PodSecurityContext(
            run_as_non_root=True, run_as_user=int(options.get("run_as_user", 1000)),
            run_as_group=int(options.get("run_as_group", 1000)),
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault")),
    )
    return client.V1Job(
        api_version="batch/v1", kind="Job",
        metadata=client.V1ObjectMeta(name=spec.tag, namespace=options["namespace"], labels=labels,
                                     annotations={"govhub.io/comment": spec.comment()}),
        spec=client.V1JobSpec(
            backoff_limit=0, active_deadline_seconds=spec.time_limit_seconds,
            ttl_seconds_after_finished=int(options.get("ttl_seconds_after_finished", 3600)),
            suspend=True if options.get("kueue_queue") else None,
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=dict(labels)), spec=pod_spec),
        ),
    )


def _volumes(options: dict[str, Any]) -> tuple[list[client.V1Volume], list[client.V1VolumeMount]]:
    """Scratch volumes as generic ephemeral volumes, each from an encrypted storage class."""
    encrypted = set(options.get("encrypted_storage_classes") or [])
    volumes, mounts = [], []
    for i, vol in enumerate(options.get("volumes") or []):
        storage_class = vol.get("storage_class", "")
        if storage_class not in encrypted:
            raise SubmitRejected(f"volume {vol.get('name', i)!r}: storage class {storage_class!r} is not one of the "
                                 f"cluster's encrypted storage classes ({', '.join(sorted(encrypted)) or 'none configured'})")
        name = label_value(vol.get("name") or f"scratch-{i}").lower()
        claim = client.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"], storage_class_name=storage_class,
            resources=client.V1VolumeResourceRequirements(requests={"storage": vol.get("size", "10Gi")}))
        volumes.append(client.V1Volume(name=name, ephemeral=client.V1EphemeralVolumeSource(
            volume_claim_template=client.V1PersistentVolumeClaimTemplate(spec=claim))))
        mounts.append(client.V1VolumeMount(name=name, mount_path=vol.get("mount_path", f"/scratch/{name}")))
    return volumes, mounts


def to_manifest(job: client.V1Job) -> dict[str, Any]:
    """The JSON the API server receives (camelCase, no nulls)."""
    return client.ApiClient().sanitize_for_serialization(job)


def validate(manifest: dict[str, Any], k8s_version: str = DEFAULT_K8S_VERSION) -> None:
    """Strict schema validation (unknown fields rejected); raises SubmitRejected with the path."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(manifest, k8s_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise SubmitRejected(f"manifest fails the Kubernetes {k8s_version} schema at {path or '(root)'}: {exc.message}")
