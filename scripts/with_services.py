"""Run one command with DATABASE_URL and REDIS_URL set; used by `make test` and `make bench`.

When either variable is unset, the embedded servers (govhub/embedded.py) are started for the
missing one(s) and stopped afterwards, unless something else still uses them. The command's
exit status is returned unchanged, also when it fails or is interrupted.

    python scripts/with_services.py [--redis-db N] [--] COMMAND [ARG...]

--redis-db picks the embedded Redis database, so that tests (whose cache.clear() flushes a
whole database) never wipe the cache and Celery queue of a `make run` on the same servers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from govhub import embedded

NEEDED = ("DATABASE_URL", "REDIS_URL")


def main(argv: list[str]) -> int:
    redis_db = 0
    if argv[:1] == ["--redis-db"]:
        redis_db, argv = int(argv[1]), argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    env = dict(os.environ)
    missing = [name for name in NEEDED if not env.get(name)]
    leased = False
    try:
        if missing:
            urls = embedded.acquire() | {"REDIS_URL": embedded.redis_url(redis_db)}
            leased = True
            env.update({name: urls[name] for name in missing})
            print(f"with_services: embedded {', '.join(missing)} under {embedded.VAR}", file=sys.stderr, flush=True)
        # Celery reads CELERY_BROKER_URL from the environment before settings; kombu needs
        # redis+socket:// where redis-py takes unix://.
        env.setdefault("CELERY_BROKER_URL", embedded.celery_broker_url(env["REDIS_URL"]))
        child = subprocess.Popen(argv, env=env)
        # Ctrl-C reaches the child through the terminal's process group; we only wait for it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
        code = child.wait()
        return 128 - code if code < 0 else code
    finally:
        if leased:
            embedded.release()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
