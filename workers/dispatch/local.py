"""The local backend: runs a job's command as a subprocess on the govhub host (the embedded
default: `make run` shows the whole life of a job without any cluster). The container image is
not pulled; it is passed to the command as GOVHUB_IMAGE. GPUs are not isolated: the count is
accounted, not enforced.

Options: ``state_dir`` (default settings.GOVHUB_LOCAL_RUNNER_DIR), ``kill_wait`` (s, default 2).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from .base import TAG_PREFIX, Backend, JobSpec, Phase, SchedulerStatus, SchedulerUnavailable, SubmitRejected

_PHASES = {"running": Phase.RUNNING, "succeeded": Phase.SUCCEEDED, "failed": Phase.FAILED,
           "cancelled": Phase.CANCELLED, "timeout": Phase.FAILED}
ROOT = Path(__file__).resolve().parents[2]


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        state_dir = self.options.get("state_dir")
        if not state_dir:
            from django.conf import settings

            state_dir = settings.GOVHUB_LOCAL_RUNNER_DIR
        self.state_dir = Path(state_dir)
        self.kill_wait = float(self.options.get("kill_wait", 2))

    def _path(self, tag: str) -> Path:
        return self.state_dir / f"{tag}.json"

    def _read(self, tag: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(tag).read_text())
        except FileNotFoundError:
            return None
        except ValueError:  # being replaced right now (os.replace is atomic, so only on odd filesystems)
            return None

    def submit(self, spec: JobSpec) -> str:
        if not spec.command:
            raise SubmitRejected("the local runner needs a command to run")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **spec.environment(), "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            [sys.executable, "-m", "workers.dispatch.local_runner", str(self.state_dir), spec.tag,
             str(spec.time_limit_seconds), str(self.kill_wait), "--", *spec.command],
            env=env, cwd=self.state_dir, capture_output=True, text=True, timeout=30, check=False,
        )
        if proc.returncode != 0 or self._read(spec.tag) is None:
            raise SchedulerUnavailable(f"local runner did not start: {proc.stderr.strip() or proc.returncode}")
        return spec.tag

    def _status(self, tag: str, state: dict[str, Any] | None) -> SchedulerStatus:
        if state is None:
            return SchedulerStatus(tag, Phase.GONE, raw_state="unknown", tag=tag)
        raw = state.get("state", "")
        phase = _PHASES.get(raw, Phase.PENDING)
        if phase == Phase.RUNNING and not _alive(state.get("runner_pid")):
            phase, raw = Phase.FAILED, "runner-died"
        return SchedulerStatus(
            tag, phase, raw_state=raw, tag=tag, started_at=_time(state.get("started_at")), ended_at=_time(state.get("ended_at")),
            exit_code=state.get("exit_code"), reason=state.get("reason", ""), gpus=None,
        )

    def find(self, spec: JobSpec) -> SchedulerStatus | None:
        prefix = f"{TAG_PREFIX}{spec.job_id}-"
        found = [self._status(p.stem, self._read(p.stem)) for p in self.state_dir.glob(f"{prefix}*.json")]
        found.sort(key=lambda s: (not s.finished, s.tag == spec.tag), reverse=True)
        return found[0] if found else None

    def status(self, scheduler_job_id: str) -> SchedulerStatus:
        return self._status(scheduler_job_id, self._read(scheduler_job_id))

    def cancel(self, scheduler_job_id: str) -> bool:
        state = self._read(scheduler_job_id)
        if state is None or state.get("state") != "running":
            return True
        try:
            os.kill(int(state["runner_pid"]), signal.SIGTERM)
        except ProcessLookupError:
            return True
        return True


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by init) is not alive
        return Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None
