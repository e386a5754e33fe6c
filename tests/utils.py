"""Helpers for tests that start real processes against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parent.parent


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the (test) database Django is connected to, socket or TCP."""
    user = quote(settings_dict.get("USER") or "postgres", safe="")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password, safe='')}" if password else user
    # django-environ puts a unix-socket directory in OPTIONS["host"], a TCP host in HOST.
    host = settings_dict.get("HOST") or settings_dict.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgres://{auth}@/{settings_dict['NAME']}?host={quote(host, safe='/')}"
    port = settings_dict.get("PORT") or ""
    host_part = f"{host}:{port}" if port else host
    return f"postgres://{auth}@{host_part}/{settings_dict['NAME']}"


def start_celery_worker(db_settings: dict, queue: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url(db_settings), "GOVHUB_CELERY_QUEUE": queue, "GOVHUB_ENV": "test"}
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "govhub", "worker", "-Q", queue, "--pool", "solo", "-l", "INFO",
         "--without-heartbeat", "--without-mingle", "--without-gossip", *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def stop(proc: subprocess.Popen, timeout: float = 10) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
