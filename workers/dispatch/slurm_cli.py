"""Slurm through its commands — the fallback where slurmrestd is not offered: ``sbatch
--parsable``, ``squeue --json``, ``scancel``, and ``sacct`` (``sacct -c`` reads the job
completion file where there is no slurmdbd) for jobs slurmctld has already forgotten.

Options: ``slurm_conf`` (path; sets SLURM_CONF for the commands), ``bin_dir`` (where the commands
are; default: PATH), ``accounting`` (``slurmdbd``, the default, ``jobcomp`` for ``sacct -c``, or
``none``), ``partition``, ``account``, ``qos``, ``output``, ``timeout`` (s).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import tempfile
from typing import Any

from .base import Backend, JobSpec, Phase, SchedulerStatus, SchedulerUnavailable, SubmitRejected
from .slurm import batch_script, phase_of, pick_tagged, status_from_record


class SlurmCliBackend(Backend):
    kind = "slurm_cli"

    @classmethod
    def options_error(cls, options: dict[str, Any]) -> str | None:
        if options.get("accounting", "slurmdbd") not in ("slurmdbd", "jobcomp", "none"):
            return "accounting must be slurmdbd, jobcomp or none"
        return None

    def run(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        if self.options.get("slurm_conf"):
            env["SLURM_CONF"] = self.options["slurm_conf"]
        command = os.path.join(self.options["bin_dir"], args[0]) if self.options.get("bin_dir") else args[0]
        try:
            return subprocess.run([command, *args[1:]], input=input_text, capture_output=True, text=True, env=env,
                                  timeout=float(self.options.get("timeout", 20)), check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SchedulerUnavailable(f"{args[0]}: {exc}")

    def submit(self, spec: JobSpec) -> str:
        script = batch_script(spec, self.options)
        with tempfile.NamedTemporaryFile("w", prefix=f"{spec.tag}-", suffix=".sbatch", delete=False) as fh:
            fh.write(script)
            path = fh.name
        try:
            proc = self.run("sbatch", "--parsable", path)
        finally:
            os.unlink(path)
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip()
            if "Unable to contact slurm controller" in message or "Socket timed out" in message:
                raise SchedulerUnavailable(f"sbatch: {message}")
            raise SubmitRejected(f"sbatch refused the job: {message}")
        return proc.stdout.strip().split(";")[0]  # "<id>" or "<id>;<cluster>"

    def _squeue(self) -> list[dict[str, Any]]:
        # 22.05's squeue --json ignores filters such as -j: we always get every job and filter.
        proc = self.run("squeue", "--json")
        if proc.returncode != 0:
            raise SchedulerUnavailable(f"squeue: {(proc.stderr or proc.stdout).strip()}")
        try:
            return json.loads(proc.stdout).get("jobs") or []
        except ValueError as exc:
            raise SchedulerUnavailable(f"squeue --json: unreadable output ({exc})")

    def _sacct(self, scheduler_job_id: str) -> SchedulerStatus:
        accounting = self.options.get("accounting", "slurmdbd")
        gone = SchedulerStatus(scheduler_job_id, Phase.GONE, raw_state="unknown", telemetry_match={"hpc_job": scheduler_job_id})
        if accounting == "none":
            return gone
        args = ["sacct", "-c"] if accounting == "jobcomp" else ["sacct", "-X"]
        proc = self.run(*args, "-n", "-P", "-j", scheduler_job_id, "-o", "JobID,JobName,State,Start,End,ExitCode")
        for line in proc.stdout.splitlines():
            fields = line.split("|")
            if len(fields) >= 6 and fields[0] == scheduler_job_id:
                phase, raw = phase_of(fields[2].split(" ")[0])
                return SchedulerStatus(scheduler_job_id, phase, raw_state=raw, tag=fields[1],
                                       started_at=_parse_time(fields[3]), ended_at=_parse_time(fields[4]),
                                       telemetry_match={"hpc_job": scheduler_job_id})
        return gone

    def find(self, spec: JobSpec) -> SchedulerStatus | None:
        return pick_tagged(self._squeue(), spec)

    def status(self, scheduler_job_id: str) -> SchedulerStatus:
        return self.status_many([scheduler_job_id])[scheduler_job_id]

    def status_many(self, scheduler_job_ids: list[str]) -> dict[str, SchedulerStatus]:
        by_id = {str(r.get("job_id")): r for r in self._squeue()}
        return {sid: status_from_record(by_id[sid]) if sid in by_id else self._sacct(sid) for sid in scheduler_job_ids}

    def cancel(self, scheduler_job_id: str) -> bool:
        proc = self.run("scancel", scheduler_job_id)
        if proc.returncode == 0:
            return True
        message = (proc.stderr or proc.stdout).strip()
        if "Invalid job id" in message or "already completing or completed" in message:
            return True
        raise SchedulerUnavailable(f"scancel {scheduler_job_id}: {message}")


def _parse_time(text: str) -> dt.datetime | None:
    """sacct's local times (the Slurm host's time zone; UTC on ours)."""
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC) if text and text not in ("Unknown", "None") else None
    except ValueError:
        return None
