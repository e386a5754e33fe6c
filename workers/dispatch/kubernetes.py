"""Kubernetes: batch/v1 Jobs through the official Python client — create, read, list by label,
watch, suspend and delete. Manifests come from ``k8s_manifest`` and are schema-validated before
they are sent.

Options: ``namespace`` (required); the API server as ``host`` (+ ``token_file``, ``ca_file``,
``verify_ssl``) or ``kubeconfig`` (+ ``context``); ``kueue_queue``; ``encrypted_storage_classes``
and ``volumes`` ([{name, storage_class, size, mount_path}]); ``service_account``;
``run_as_user``/``run_as_group``; ``k8s_version`` (schema version to validate against).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from . import k8s_manifest
from .base import Backend, JobSpec, Phase, SchedulerStatus, SchedulerUnavailable, SubmitRejected


class KubernetesBackend(Backend):
    kind = "kubernetes"

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self.namespace = self.options["namespace"]
        self._batch: client.BatchV1Api | None = None

    @classmethod
    def options_error(cls, options: dict[str, Any]) -> str | None:
        if not options.get("namespace"):
            return "kubernetes needs namespace"
        if not options.get("host") and not options.get("kubeconfig"):
            return "kubernetes needs host (API server URL) or kubeconfig"
        return None

    @property
    def batch(self) -> client.BatchV1Api:
        if self._batch is None:
            opts = self.options
            if opts.get("kubeconfig"):
                api_client = config.new_client_from_config(config_file=opts["kubeconfig"], context=opts.get("context"))
            else:
                cfg = client.Configuration()
                cfg.host = opts["host"].rstrip("/")
                cfg.verify_ssl = bool(opts.get("verify_ssl", True))
                if opts.get("ca_file"):
                    cfg.ssl_ca_cert = opts["ca_file"]
                if opts.get("token_file"):
                    with open(opts["token_file"]) as fh:
                        token = fh.read().strip()
                    # "BearerToken" since client v36; "authorization" before it.
                    cfg.api_key = {"BearerToken": token, "authorization": token}
                    cfg.api_key_prefix = {"BearerToken": "Bearer", "authorization": "Bearer"}
                cfg.retries = False
                api_client = client.ApiClient(cfg)
            self._batch = client.BatchV1Api(api_client)
        return self._batch

    def manifest(self, spec: JobSpec) -> dict[str, Any]:
        manifest = k8s_manifest.to_manifest(k8s_manifest.build_job(spec, self.options))
        k8s_manifest.validate(manifest, self.options.get("k8s_version", k8s_manifest.DEFAULT_K8S_VERSION))
        return manifest

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, _request_timeout=float(self.options.get("timeout", 10)), **kwargs)
        except ApiException as exc:
            if exc.status and exc.status >= 500 or exc.status in (401, 403, 429):
                raise SchedulerUnavailable(f"kubernetes {what}: HTTP {exc.status} {exc.reason}")
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SchedulerUnavailable(f"kubernetes {what}: {exc}")

    def submit(self, spec: JobSpec) -> str:
        body = self.manifest(spec)
        try:
            self._call("create job", self.batch.create_namespaced_job, self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # this attempt's Job exists already: the create went through before
                return spec.tag
            raise SubmitRejected(f"the API server refused the Job (HTTP {exc.status}): {exc.body or exc.reason}")
        return spec.tag

    def find(self, spec: JobSpec) -> SchedulerStatus | None:
        jobs = self._call("list jobs", self.batch.list_namespaced_job, self.namespace,
                          label_selector=f"{k8s_manifest.LABEL_INSTANCE}={k8s_manifest.label_value(spec.instance)},"
                                         f"{k8s_manifest.LABEL_JOB}={spec.job_id}").items
        statuses = [self._status(j) for j in jobs]
        statuses.sort(key=lambda s: (not s.finished, s.tag == spec.tag), reverse=True)
        return statuses[0] if statuses else None

    def status(self, scheduler_job_id: str) -> SchedulerStatus:
        try:
            job = self._call("read job", self.batch.read_namespaced_job, scheduler_job_id, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return self._gone(scheduler_job_id)
            raise SchedulerUnavailable(f"kubernetes read job: HTTP {exc.status}")
        return self._status(job)

    def _gone(self, name: str) -> SchedulerStatus:
        return SchedulerStatus(name, Phase.GONE, raw_state="NotFound", tag=name,
                               telemetry_match={"namespace": self.namespace, "pod_prefix": f"{name}-"})

    def _status(self, job: client.V1Job) -> SchedulerStatus:
        name = job.metadata.name
        st = job.status or client.V1JobStatus()
        conditions = {c.type: c for c in (st.conditions or []) if c.status == "True"}
        limits = (job.spec.template.spec.containers[0].resources.limits or {}) if job.spec else {}
        gpus = int(limits.get("nvidia.com/gpu", 0) or 0)
        ended = st.completion_time
        if job.metadata.deletion_timestamp is not None:
            phase, raw = Phase.STOPPING, "Terminating"
        elif "Complete" in conditions or (st.succeeded or 0) > 0:
            phase, raw = Phase.SUCCEEDED, "Complete"
        elif "Failed" in conditions:
            phase, raw = Phase.FAILED, f"Failed:{conditions['Failed'].reason or ''}"
            ended = ended or conditions["Failed"].last_transition_time
        elif job.spec and job.spec.suspend:
            phase, raw = (Phase.STOPPING, "Suspending") if (st.active or 0) > 0 else (Phase.PENDING, "Suspended")
        elif (st.ready if st.ready is not None else st.active or 0) > 0:
            phase, raw = Phase.RUNNING, "Running"
        else:
            phase, raw = Phase.PENDING, "Pending"
        return SchedulerStatus(
            name, phase, raw_state=raw, tag=name, started_at=_utc(st.start_time) if phase != Phase.PENDING else None,
            ended_at=_utc(ended), gpus=gpus, reason=raw,
            telemetry_match={"namespace": self.namespace, "pod_prefix": f"{name}-"},
        )

    def cancel(self, scheduler_job_id: str) -> bool:
        """Suspend first (the Job controller removes its pods at once, and Kueue releases the
        quota), then delete with foreground propagation: the Job object stays, marked for
        deletion, until its pods are gone — which is what ``wait_gone`` watches for."""
        try:
            self._call("suspend job", self.batch.patch_namespaced_job, scheduler_job_id, self.namespace, {"spec": {"suspend": True}})
            self._call("delete job", self.batch.delete_namespaced_job, scheduler_job_id, self.namespace,
                       body=client.V1DeleteOptions(propagation_policy="Foreground"))
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise SchedulerUnavailable(f"kubernetes cancel: HTTP {exc.status} {exc.reason}")
        return True

    def wait_gone(self, scheduler_job_id: str, timeout: float) -> SchedulerStatus:
        """Watch the Job (field selector on its name) until a DELETED event or a finished state."""
        current = self.status(scheduler_job_id)
        if current.finished:
            return current
        stream = watch.Watch()
        try:
            for event in stream.stream(self.batch.list_namespaced_job, self.namespace,
                                       field_selector=f"metadata.name={scheduler_job_id}",
                                       timeout_seconds=max(1, int(timeout)), _request_timeout=timeout + 5):
                if event["type"] == "DELETED":
                    return self._gone(scheduler_job_id)
                current = self._status(event["object"])
                if current.finished:
                    return current
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise SchedulerUnavailable(f"kubernetes watch: {exc}")
        finally:
            stream.stop()
        return self.status(scheduler_job_id)


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
