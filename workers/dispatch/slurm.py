"""What the two Slurm backends share: the batch script govhub generates, the job properties sent
with it, and how Slurm's job records are read (states, tags, GPUs)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from .base import TAG_PREFIX, JobSpec, Phase, SchedulerStatus, from_epoch

# Slurm base states → govhub phases (COMPLETING is a flag on top of the base state).
_PHASES = {
    "PENDING": Phase.PENDING, "CONFIGURING": Phase.PENDING, "REQUEUED": Phase.PENDING, "REQUEUE_HOLD": Phase.PENDING,
    "REQUEUE_FED": Phase.PENDING, "RESIZING": Phase.PENDING, "SUSPENDED": Phase.PENDING, "SIGNALING": Phase.RUNNING,
    "RUNNING": Phase.RUNNING, "STAGE_OUT": Phase.RUNNING, "COMPLETING": Phase.STOPPING,
    "COMPLETED": Phase.SUCCEEDED, "CANCELLED": Phase.CANCELLED,
    "FAILED": Phase.FAILED, "TIMEOUT": Phase.FAILED, "NODE_FAIL": Phase.FAILED, "OUT_OF_MEMORY": Phase.FAILED,
    "BOOT_FAIL": Phase.FAILED, "DEADLINE": Phase.FAILED, "PREEMPTED": Phase.FAILED, "SPECIAL_EXIT": Phase.FAILED,
    "REVOKED": Phase.CANCELLED,
}
_GPU_IN_TRES = re.compile(r"gpu(?::[\w.-]+)?[:=](\d+)")


def phase_of(job_state: Any) -> tuple[str, str]:
    """(phase, raw) for a job_state: "RUNNING" (v0.0.38, squeue --json) or ["CANCELLED",
    "COMPLETING"] (v0.0.40+). A job still COMPLETING has not left the node: STOPPING."""
    states = [str(s).upper() for s in job_state] if isinstance(job_state, list) else [str(job_state or "").upper()]
    raw = "+".join(s for s in states if s)
    if "COMPLETING" in states:
        return Phase.STOPPING, raw
    for state in states:
        base = state.split("+")[0].split(" ")[0]
        if base in _PHASES:
            return _PHASES[base], raw
    return Phase.PENDING if raw else Phase.GONE, raw


def gpus_of(record: dict[str, Any]) -> int | None:
    for key in ("tres_per_node", "tres_per_job", "tres_alloc_str", "tres_req_str", "gres"):
        match = _GPU_IN_TRES.search(str(record.get(key) or ""))
        if match:
            return int(match.group(1))
    return None


def status_from_record(record: dict[str, Any]) -> SchedulerStatus:
    """A job record from slurmrestd (/job/{id}, /jobs) or ``squeue --json``."""
    phase, raw = phase_of(record.get("job_state"))
    exit_code = record.get("exit_code")
    if isinstance(exit_code, dict):  # v0.0.40+: {"status": [...], "return_code": {"number": n}}
        exit_code = (exit_code.get("return_code") or {}).get("number")
    sid = str(record.get("job_id"))
    return SchedulerStatus(
        scheduler_job_id=sid, phase=phase, raw_state=raw, tag=str(record.get("name") or ""),
        started_at=from_epoch(record.get("start_time")) if phase != Phase.PENDING else None,
        ended_at=from_epoch(record.get("end_time")) if phase in Phase.FINISHED or phase == Phase.STOPPING else None,
        gpus=gpus_of(record), exit_code=exit_code if isinstance(exit_code, int) else None,
        reason=str(record.get("state_reason") or ""), telemetry_match={"hpc_job": sid},
    )


def pick_tagged(records: list[dict[str, Any]], spec: JobSpec) -> SchedulerStatus | None:
    """The job this govhub installation placed for ``spec.job_id`` (any attempt; an unfinished one
    first, then the newest), recognised by its name and confirmed by its comment."""
    prefix = f"{TAG_PREFIX}{spec.job_id}-"
    mine = [r for r in records if str(r.get("name") or "").startswith(prefix) and str(r.get("comment") or "").startswith(spec.marker)]
    if not mine:
        return None
    statuses = [status_from_record(r) for r in mine]
    statuses.sort(key=lambda s: (not s.finished, s.tag.endswith(spec.tag[-8:]), int(s.scheduler_job_id)), reverse=True)
    return statuses[0]


def hms(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def batch_script(spec: JobSpec, options: dict[str, Any]) -> str:
    """The sbatch script: directives for the GPU request, partition, time limit, account and a
    comment naming the govhub job and decision; then the job's command (in its container when
    ``container_flag`` names the site's container option, e.g. pyxis' ``--container-image``)."""
    partition = options.get("partition") or ""
    output = options.get("output") or ""
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={spec.tag}",
        f"#SBATCH --comment={spec.comment()}",
        f"#SBATCH --account={options.get('account') or spec.project}",
        f"#SBATCH --gres=gpu:{spec.gpus}" if spec.gpus else "#SBATCH --gres=none",
        f"#SBATCH --time={hms(spec.time_limit_seconds)}",
    ]
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    if output:
        lines.append(f"#SBATCH --output={output}")
    if options.get("qos"):
        lines.append(f"#SBATCH --qos={options['qos']}")
    lines.append("set -euo pipefail")
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(spec.environment().items())]
    command = " ".join(shlex.quote(part) for part in spec.command)
    flag = options.get("container_flag")
    if flag:
        lines.append(f"exec srun {flag}={shlex.quote(spec.image)} {command}")
    else:
        lines.append(f"exec {command}")
    return "\n".join(lines) + "\n"
