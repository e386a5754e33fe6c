"""Slurm through slurmrestd's REST API with JWT auth (rest_auth/jwt).

Options: ``url`` (http://host:6820), ``api_version`` (v0.0.38 for Slurm 22.05 — tested against a
real slurmrestd; v0.0.39–v0.0.42 for 23.02–24.11, shapes from their published OpenAPI documents),
``user_name``, and one token source: ``jwt_key_file`` (govhub mints short-lived HS256 tokens with
the cluster's key, claim ``sun``, as ``scontrol token`` does), ``token_file`` or ``token_env``.
Also ``partition``, ``account``, ``qos``, ``output``, ``working_directory``, ``timeout`` (s).
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from .base import Backend, JobSpec, Phase, SchedulerStatus, SchedulerUnavailable, SubmitRejected
from .slurm import batch_script, pick_tagged, status_from_record

SUPPORTED_VERSIONS = ("v0.0.38", "v0.0.39", "v0.0.40", "v0.0.41", "v0.0.42")
TOKEN_LIFESPAN = 1800


class SlurmRestBackend(Backend):
    kind = "slurm_rest"

    def __init__(self, options: dict[str, Any] | None = None):
        super().__init__(options)
        self.base = self.options["url"].rstrip("/") + "/slurm/" + self.version
        self.timeout = float(self.options.get("timeout", 10))
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        return self.options.get("api_version") or "v0.0.38"

    @classmethod
    def options_error(cls, options: dict[str, Any]) -> str | None:
        if not str(options.get("url", "")).startswith(("http://", "https://")):
            return "slurm_rest needs url: http(s)://host:port of slurmrestd"
        if (options.get("api_version") or "v0.0.38") not in SUPPORTED_VERSIONS:
            return f"api_version must be one of {', '.join(SUPPORTED_VERSIONS)}"
        if not options.get("user_name"):
            return "slurm_rest needs user_name (the Slurm user jobs run as)"
        if not any(options.get(k) for k in ("jwt_key_file", "token_file", "token_env")):
            return "slurm_rest needs a token source: jwt_key_file, token_file or token_env"
        return None

    # --- auth ---------------------------------------------------------------------------------

    def token(self) -> str:
        with self._lock:
            if self._token and self._token[1] > time.time() + 60:
                return self._token[0]
            opts = self.options
            if opts.get("jwt_key_file"):
                import jwt

                with open(opts["jwt_key_file"], "rb") as fh:
                    key = fh.read()
                now = int(time.time())
                lifespan = int(opts.get("token_lifespan", TOKEN_LIFESPAN))
                token = jwt.encode({"iat": now, "exp": now + lifespan, "sun": opts["user_name"]}, key, algorithm="HS256")
                self._token = (token, now + lifespan)
            elif opts.get("token_file"):
                with open(opts["token_file"]) as fh:
                    token = fh.read().strip().removeprefix("SLURM_JWT=")
                self._token = (token, time.time() + 300)  # re-read: an operator may rotate it
            else:
                token = os.environ.get(opts["token_env"], "").removeprefix("SLURM_JWT=")
                self._token = (token, time.time() + 300)
            return self._token[0]

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"X-SLURM-USER-NAME": self.options["user_name"], "X-SLURM-USER-TOKEN": self.token(),
                   "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, method=method, headers=headers, data=data)  # noqa: S310 - http(s) checked
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:  # noqa: S310 - configured URL
                return resp.status, _json(resp.read())
        except urllib.error.HTTPError as exc:
            payload = _json(exc.read())
            if _request_errors(payload):
                return exc.code, payload  # Slurm refused the request itself (ESLURM_*), however it is wrapped
            if exc.code >= 500 or exc.code in (401, 403, 429):
                # 401/403: token expired or the daemon restarted with a new key; retry re-mints.
                self._token = None
                raise SchedulerUnavailable(f"slurmrestd {method} {path}: HTTP {exc.code} {_errors(payload)}")
            return exc.code, payload
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise SchedulerUnavailable(f"slurmrestd {method} {path}: {exc}")

    # --- the interface ------------------------------------------------------------------------

    def job_properties(self, spec: JobSpec) -> dict[str, Any]:
        opts = self.options
        env = {"PATH": opts.get("path_env", "/usr/local/bin:/usr/bin:/bin"), **spec.environment()}
        props: dict[str, Any] = {
            "name": spec.tag, "comment": spec.comment(), "account": opts.get("account") or spec.project,
            "current_working_directory": opts.get("working_directory", "/tmp"),  # noqa: S108 - on the compute node
        }
        for key in ("partition", "qos"):
            if opts.get(key):
                props[key] = opts[key]
        if opts.get("output"):
            props["standard_output"] = opts["output"]
        if self.version == "v0.0.38":
            props.update(environment=env, time_limit=spec.time_limit_minutes)
            if spec.gpus:
                props["gres"] = f"gpu:{spec.gpus}"
        else:
            props.update(environment=[f"{k}={v}" for k, v in env.items()],
                         time_limit={"set": True, "infinite": False, "number": spec.time_limit_minutes})
            if spec.gpus:
                props["tres_per_node"] = f"gres/gpu:{spec.gpus}"
        return props

    def submission(self, spec: JobSpec) -> dict[str, Any]:
        script = batch_script(spec, self.options)
        props = self.job_properties(spec)
        if self.version in ("v0.0.38", "v0.0.39"):
            return {"script": script, "job": props}
        return {"job": {**props, "script": script}}

    def submit(self, spec: JobSpec) -> str:
        code, payload = self.call("POST", "/job/submit", self.submission(spec))
        errors = _errors(payload)
        if code != 200 or errors or not payload.get("job_id"):
            raise SubmitRejected(f"slurmrestd refused the job (HTTP {code}): {errors or payload}")
        return str(payload["job_id"])

    def _jobs(self) -> list[dict[str, Any]]:
        code, payload = self.call("GET", "/jobs")
        if code != 200:
            raise SchedulerUnavailable(f"slurmrestd GET /jobs: HTTP {code} {_errors(payload)}")
        return payload.get("jobs") or []

    def find(self, spec: JobSpec) -> SchedulerStatus | None:
        return pick_tagged(self._jobs(), spec)

    def status(self, scheduler_job_id: str) -> SchedulerStatus:
        code, payload = self.call("GET", f"/job/{scheduler_job_id}")
        jobs = payload.get("jobs") or []
        if code != 200 or not jobs:
            # Purged from slurmctld (MinJobAge) or never existed: Slurm no longer runs it.
            return SchedulerStatus(scheduler_job_id, Phase.GONE, raw_state=_errors(payload) or "unknown",
                                   telemetry_match={"hpc_job": scheduler_job_id})
        return status_from_record(jobs[0])

    def status_many(self, scheduler_job_ids: list[str]) -> dict[str, SchedulerStatus]:
        """One GET /jobs for all of them (the monitor's poll costs one request per cluster)."""
        by_id = {str(r.get("job_id")): r for r in self._jobs()}
        out = {}
        for sid in scheduler_job_ids:
            record = by_id.get(sid)
            out[sid] = status_from_record(record) if record else self.status(sid)
        return out

    def cancel(self, scheduler_job_id: str) -> bool:
        code, payload = self.call("DELETE", f"/job/{scheduler_job_id}")
        if code == 200 and not _errors(payload):
            return True
        # Already finished or purged: nothing left to cancel.
        return self.status(scheduler_job_id).finished


def _json(raw: bytes) -> dict:
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        return {"errors": [{"error": raw[:300].decode(errors="replace")}]}
    return data if isinstance(data, dict) else {}


def _request_errors(payload: dict) -> bool:
    """Slurm's ESLURM_* codes (2000-2999: bad partition, too many GPUs, invalid job id …) say the
    request cannot succeed; slurmrestd 22.05 answers them with HTTP 500 all the same."""
    for error in payload.get("errors") or []:
        code = error.get("error_code", error.get("error_number")) if isinstance(error, dict) else None
        if isinstance(code, int) and 2000 <= code < 3000:
            return True
    return False


def _errors(payload: dict) -> str:
    errors = payload.get("errors") or []
    return "; ".join(str(e.get("error") or e.get("description") or e) if isinstance(e, dict) else str(e) for e in errors)
