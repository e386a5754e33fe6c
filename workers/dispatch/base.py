"""The one interface every scheduler backend implements: submit, status, cancel, usage (plus
``find`` by govhub's tag, which makes dispatch idempotent, and ``wait_gone`` for confirming a
cancel). Backends take plain data (``JobSpec``), never Django models, so they can be tested and
benchmarked on their own."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class BackendError(Exception):
    """Base class of everything a backend raises on purpose."""


class BackendConfigError(BackendError):
    """The cluster's connection options are missing or wrong (an administrator must fix them)."""


class SchedulerUnavailable(BackendError):
    """The scheduler could not be reached or answered 5xx: worth retrying with backoff."""


class SubmitRejected(BackendError):
    """The scheduler (or the backend's own checks) refused the job: retrying will not help."""


class Phase:
    """govhub's reading of a scheduler state."""

    PENDING = "pending"
    RUNNING = "running"
    STOPPING = "stopping"  # cancel acknowledged, processes still being killed (Slurm COMPLETING)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    GONE = "gone"  # the scheduler does not know the job (any more)

    FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED, GONE})
    ON_SCHEDULER = frozenset({PENDING, RUNNING, STOPPING})


@dataclass(frozen=True)
class JobSpec:
    """Everything a backend needs to place one govhub job."""

    job_id: int
    attempt: str  # uuid of the dispatch intent
    decision: str  # the policy decision that approved it ("" when unknown)
    project: str  # project slug: Slurm account, Kubernetes label
    image: str
    command: tuple[str, ...]
    gpus: int
    estimated_hours: float
    cluster_name: str = ""
    region: str = ""
    security_tier: int = 2
    env: dict[str, str] = field(default_factory=dict)
    #: Which govhub installation placed the job: two installations (staging and production) may
    #: share a cluster, and neither may adopt the other's jobs when it reconciles by tag.
    instance: str = "govhub"

    @property
    def tag(self) -> str:
        """The scheduler job's name: govhub job id plus the first 8 hex of the attempt, a valid
        Slurm job name and Kubernetes object name (DNS-1123, ≤ 63 characters)."""
        return f"{TAG_PREFIX}{self.job_id}-{self.attempt.replace('-', '')[:8]}"

    @property
    def time_limit_seconds(self) -> int:
        return max(60, math.ceil(self.estimated_hours * 3600))

    @property
    def time_limit_minutes(self) -> int:
        return max(1, math.ceil(self.time_limit_seconds / 60))

    def comment(self) -> str:
        return f"govhub:instance={self.instance},job={self.job_id},decision={self.decision or 'none'},attempt={self.attempt}"

    @property
    def marker(self) -> str:
        """What the comment of every scheduler job placed for this govhub job starts with."""
        return f"govhub:instance={self.instance},job={self.job_id},"

    def environment(self) -> dict[str, str]:
        return {"GOVHUB_INSTANCE": self.instance, "GOVHUB_JOB_ID": str(self.job_id), "GOVHUB_DECISION_ID": self.decision or "",
                "GOVHUB_DISPATCH_ATTEMPT": self.attempt, "GOVHUB_IMAGE": self.image, **self.env}


TAG_PREFIX = "govhub-"
_TAG = re.compile(r"^govhub-(\d+)-([0-9a-f]{8})$")


def job_id_from_tag(tag: str) -> int | None:
    match = _TAG.match(tag or "")
    return int(match.group(1)) if match else None


@dataclass
class SchedulerStatus:
    scheduler_job_id: str
    phase: str
    raw_state: str = ""
    tag: str = ""
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    gpus: int | None = None
    exit_code: int | None = None
    reason: str = ""
    telemetry_match: dict[str, str] = field(default_factory=dict)  # labels that map DCGM series to it

    @property
    def finished(self) -> bool:
        return self.phase in Phase.FINISHED


@dataclass(frozen=True)
class Usage:
    """What the scheduler says a job has used so far (telemetry adds energy separately)."""

    elapsed_seconds: float
    gpus: int

    @property
    def gpu_hours(self) -> float:
        return self.elapsed_seconds * self.gpus / 3600


class Backend(ABC):
    """A scheduler. ``options`` come from the cluster's ClusterConnection."""

    kind: str = ""
    #: Seconds between polls in ``wait_gone``.
    poll_interval: float = 0.1

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        problem = self.options_error(self.options)
        if problem:
            raise BackendConfigError(problem)

    @classmethod
    def options_error(cls, options: dict[str, Any]) -> str | None:
        """A message when ``options`` cannot work, else None (also used by model validation)."""
        return None

    @abstractmethod
    def submit(self, spec: JobSpec) -> str:
        """Place the job; return the scheduler's id for it. Raises SubmitRejected or
        SchedulerUnavailable."""

    @abstractmethod
    def find(self, spec: JobSpec) -> SchedulerStatus | None:
        """The scheduler job carrying govhub job ``spec.job_id``'s tag, if any (any attempt)."""

    @abstractmethod
    def status(self, scheduler_job_id: str) -> SchedulerStatus:
        """The job's current state; phase GONE when the scheduler does not know it."""

    def status_many(self, scheduler_job_ids: list[str]) -> dict[str, SchedulerStatus]:
        return {sid: self.status(sid) for sid in scheduler_job_ids}

    @abstractmethod
    def cancel(self, scheduler_job_id: str) -> bool:
        """Ask the scheduler to stop the job; True when it acknowledged (or the job is already
        gone). The job may still be stopping afterwards: confirm with status / wait_gone."""

    def usage(self, status: SchedulerStatus, now: dt.datetime | None = None) -> Usage:
        """GPU time from the scheduler's start/end times and the job's GPUs."""
        if status.started_at is None:
            return Usage(0.0, status.gpus or 0)
        end = status.ended_at or now or dt.datetime.now(dt.UTC)
        return Usage(max(0.0, (end - status.started_at).total_seconds()), status.gpus or 0)

    def wait_gone(self, scheduler_job_id: str, timeout: float) -> SchedulerStatus:
        """Poll until the job has left the scheduler (finished or unknown) or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(scheduler_job_id)
            if status.finished or time.monotonic() >= deadline:
                return status
            time.sleep(self.poll_interval)


def from_epoch(value: Any) -> dt.datetime | None:
    """Slurm times: an epoch int (v0.0.38) or {"set": bool, "number": int} (v0.0.40+); 0 = unset."""
    if isinstance(value, dict):
        if not value.get("set", True) or value.get("infinite"):
            return None
        value = value.get("number")
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return dt.datetime.fromtimestamp(number, dt.UTC) if number > 0 else None
