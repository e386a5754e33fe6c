"""A real single-node Slurm 22.05 cluster for the tests marked ``slurm``.

Started once per test session by the project's own ``scripts/slurm/slurm_up.sh`` (which installs
the Debian packages when they are missing) on loopback ports of its own, and stopped by pid with
``scripts/slurm/slurm_down.sh`` when the last pytest process using it ends. Under pytest-xdist the
workers share it: a file lock serialises start and stop, and a small file lists the pids of the
sessions using it (dead pids are dropped, so a killed run never keeps it alive for the next).
If the cluster cannot start, every Slurm test errors with the script's output — never a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "slurm"
SLURM_DIR = Path(os.environ.get("GOVHUB_TEST_SLURM_DIR", "/tmp/govhub-slurm-test"))  # noqa: S108
# Ports of our own: a developer's or the lab's cluster on 6817-6820 is never touched.
PORTS = {"CTLD_PORT": "17817", "SLURMD_PORT": "17818", "DBD_PORT": "17819", "REST_PORT": "17820"}


@dataclass(frozen=True)
class SlurmCluster:
    base: Path

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{PORTS['REST_PORT']}"

    @property
    def slurm_conf(self) -> str:
        return str(self.base / "etc" / "slurm.conf")

    @property
    def jwt_key(self) -> str:
        return str(self.base / "jwt" / "jwt_hs256.key")

    def rest_options(self, **extra: Any) -> dict[str, Any]:
        return {"url": self.rest_url, "api_version": "v0.0.38", "user_name": "root", "jwt_key_file": self.jwt_key,
                "partition": "gpu", "output": str(self.base / "jobs" / "%j.out"), "working_directory": "/tmp", **extra}

    def cli_options(self, **extra: Any) -> dict[str, Any]:
        return {"slurm_conf": self.slurm_conf, "accounting": "jobcomp", "partition": "gpu",
                "output": str(self.base / "jobs" / "%j.out"), **extra}

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": self.slurm_conf}

    def squeue(self) -> list[dict[str, Any]]:
        """Every job slurmctld knows (22.05's squeue --json ignores -j filters)."""
        out = subprocess.run(["squeue", "--json"], env=self.env(), capture_output=True, text=True, check=True, timeout=20)
        return json.loads(out.stdout).get("jobs") or []

    def jobs_of(self, job: Any) -> list[dict[str, Any]]:
        """Slurm jobs placed for this govhub job by this test database (xdist workers share the
        cluster, and their job ids overlap)."""
        from apps.dispatch.services import instance_id

        marker = f"govhub:instance={instance_id()},job={job.pk},"
        return [j for j in self.squeue() if str(j.get("comment", "")).startswith(marker)]


def _script_env() -> dict[str, str]:
    return {**os.environ, **PORTS, "SLURM_DIR": str(SLURM_DIR), "WITH_DBD": "0", "KILL_WAIT": "2", "NGPU": "4"}


def _live(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        alive.append(pid)
    return alive


def _users(path: Path) -> list[int]:
    try:
        return _live([int(p) for p in path.read_text().split()])
    except (FileNotFoundError, ValueError):
        return []


def acquire() -> SlurmCluster:
    lock, users_file = FileLock(f"{SLURM_DIR}.lock"), Path(f"{SLURM_DIR}.users")
    with lock.acquire(timeout=600):
        users = _users(users_file)
        if not users:  # a clean slate: no job records (StateSaveLocation) from earlier runs
            subprocess.run(["bash", str(SCRIPTS / "slurm_down.sh")], env={**_script_env(), "PURGE": "1"}, capture_output=True,
                           timeout=120, check=False)
        proc = subprocess.run(["bash", str(SCRIPTS / "slurm_up.sh")], env=_script_env(), capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            pytest.fail(f"the test Slurm cluster did not start (scripts/slurm/slurm_up.sh exit {proc.returncode}):\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}", pytrace=False)
        cluster = SlurmCluster(SLURM_DIR)
        users_file.write_text(" ".join(str(p) for p in [*users, os.getpid()]))
    return cluster


def release() -> None:
    lock, users_file = FileLock(f"{SLURM_DIR}.lock"), Path(f"{SLURM_DIR}.users")
    with lock.acquire(timeout=600):
        users = [p for p in _users(users_file) if p != os.getpid()]
        users_file.write_text(" ".join(str(p) for p in users))
        if not users:
            subprocess.run(["bash", str(SCRIPTS / "slurm_down.sh")], env=_script_env(), capture_output=True, text=True, timeout=120,
                           check=False)


@pytest.fixture(scope="session")
def slurm_cluster():
    cluster = acquire()
    try:
        yield cluster
    finally:
        release()
