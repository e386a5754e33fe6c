"""Dispatch backends, one interface (``base.Backend``): local subprocess, Slurm (slurmrestd REST or
the sbatch/squeue/scancel/sacct commands) and Kubernetes. ``backend_for(kind, options)`` builds
one; instances are cached per (kind, options) so a worker reuses its HTTP clients and tokens."""

from __future__ import annotations

import json
import threading
from typing import Any

from .base import (
    Backend,
    BackendConfigError,
    BackendError,
    JobSpec,
    Phase,
    SchedulerStatus,
    SchedulerUnavailable,
    SubmitRejected,
    Usage,
)


def _classes() -> dict[str, type[Backend]]:
    # Imported lazily: the kubernetes client is heavy and only Kubernetes clusters need it.
    from .local import LocalBackend
    from .slurm_cli import SlurmCliBackend
    from .slurm_rest import SlurmRestBackend

    classes: dict[str, type[Backend]] = {"local": LocalBackend, "slurm_rest": SlurmRestBackend, "slurm_cli": SlurmCliBackend}
    try:
        from .kubernetes import KubernetesBackend
    except ImportError:  # pragma: no cover - the client is in requirements.txt
        return classes
    classes["kubernetes"] = KubernetesBackend
    return classes


_cache: dict[str, Backend] = {}
_lock = threading.Lock()


def options_error(kind: str, options: dict[str, Any]) -> str | None:
    cls = _classes().get(kind)
    if cls is None:
        return f"unknown backend {kind!r}"
    return cls.options_error(options)


def backend_for(kind: str, options: dict[str, Any] | None = None) -> Backend:
    key = f"{kind}:{json.dumps(options or {}, sort_keys=True, default=str)}"
    with _lock:
        backend = _cache.get(key)
        if backend is None:
            cls = _classes().get(kind)
            if cls is None:
                raise BackendConfigError(f"unknown backend {kind!r}")
            backend = _cache[key] = cls(options or {})
        return backend


__all__ = [
    "Backend", "BackendConfigError", "BackendError", "JobSpec", "Phase", "SchedulerStatus", "SchedulerUnavailable",
    "SubmitRejected", "Usage", "backend_for", "options_error",
]
