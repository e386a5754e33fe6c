"""Container health checks for docker-compose.yml: ``python scripts/healthcheck.py web|worker|beat``.

Exit status 0 means healthy. Kept dependency-light so a check stays cheap every interval.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def web() -> bool:
    # Django rejects unknown Host headers, so ask as the first allowed host; /health/ is
    # exempt from the HTTPS redirect in production settings.
    hosts = [h.strip().lstrip(".") for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = next((h for h in hosts if h != "*"), "localhost")
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health/", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status == 200


def worker() -> bool:
    # A worker is healthy when it answers a broadcast ping addressed to itself.
    from govhub.celery import app

    replies = app.control.ping(destination=[f"celery@{socket.gethostname()}"], timeout=5)
    return bool(replies)


def beat() -> bool:
    # Beat has no control channel: it is healthy when its process runs and the broker answers.
    cmdline = Path("/proc/1/cmdline").read_bytes().replace(b"\0", b" ")
    if b"beat" not in cmdline:
        return False
    import redis

    return bool(redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5).ping())


CHECKS = {"web": web, "worker": worker, "beat": beat}

if __name__ == "__main__":
    try:
        healthy = CHECKS[sys.argv[1]]()
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; `docker inspect` shows why
        print(f"unhealthy: {exc!r}", file=sys.stderr)
        healthy = False
    sys.exit(0 if healthy else 1)
