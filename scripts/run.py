"""`make run`: prepare the database, then supervise web + Celery worker + Celery beat.

Without DATABASE_URL / REDIS_URL the embedded servers are started (and stopped on exit
unless something else still uses them). Ctrl-C or SIGTERM stops everything; if any
child dies, everything is stopped and the exit status is non-zero.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from govhub import embedded

REPO = embedded.REPO
PY = sys.executable
STOP_TIMEOUT = 20.0  # seconds between SIGTERM and SIGKILL; Celery's warm shutdown needs a few
CREDENTIALS = embedded.VAR / "admin-credentials.txt"
_stop_signal: int | None = None


def _on_signal(signum: int, _frame: object) -> None:
    global _stop_signal
    _stop_signal = signum


def _spawn(argv: list[str], env: dict[str, str], **kwargs: object) -> subprocess.Popen:
    # Own session: the terminal's Ctrl-C reaches only us, and we stop children in order.
    return subprocess.Popen(argv, cwd=REPO, env=env, start_new_session=True, **kwargs)


def _terminate(procs: dict[str, subprocess.Popen]) -> None:
    """SIGTERM every live child's process group, then SIGKILL what is left after a timeout."""
    for proc in procs.values():
        if proc.poll() is None:
            _killpg(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, proc in procs.items():
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"run: {name} did not stop in {STOP_TIMEOUT:.0f}s; killing it", flush=True)
            _killpg(proc, signal.SIGKILL)
            proc.wait()
        _killpg(proc, signal.SIGKILL)  # stragglers left in its group (e.g. orphaned pool workers)


def _killpg(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _step(name: str, argv: list[str], env: dict[str, str], capture: bool = False) -> str:
    """Run one preparation command to completion; returns its stdout when ``capture``."""
    print(f"run: {name}", flush=True)
    with tempfile.TemporaryFile("w+") as out:
        proc = _spawn(argv, env, stdout=out if capture else None)
        while proc.poll() is None:  # poll, not wait(): a stop signal must interrupt the step
            if _stop_signal is not None:
                _terminate({name: proc})
                raise SystemExit(0)
            time.sleep(0.1)
        out.seek(0)
        output = out.read()
    print(output, end="", flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"run: `{' '.join(argv[1:])}` failed with status {proc.returncode}")
    return output


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _supervise(procs: dict[str, subprocess.Popen], port: int, admin_note: str) -> int:
    announced = False
    while _stop_signal is None:
        for name, proc in procs.items():
            code = proc.poll()
            if code is not None:
                print(f"run: {name} exited with status {code}; stopping everything", flush=True)
                _terminate(procs)
                return 128 - code if code < 0 else code or 1  # -N: killed by signal N
        if not announced and _port_open(port):
            announced = True
            print(f"\n  govhub is running at http://127.0.0.1:{port}/\n  {admin_note}\n"
                  "  Ctrl-C stops web, worker, beat and the embedded servers.\n", flush=True)
        time.sleep(0.3)
    print(f"run: {signal.Signals(_stop_signal).name} received; stopping", flush=True)
    _terminate(procs)
    return 0


def _admin_note(output: str) -> str:
    # ensure_admin prints a generated password once ("... password 'xyz' ..."); keep a private
    # copy so it is not lost with the scrollback. "its password was printed" must not match.
    if re.search(r"password\s*[:=]?\s*['\"]", output, re.IGNORECASE):
        CREDENTIALS.write_text(output)
        CREDENTIALS.chmod(0o600)
    if CREDENTIALS.exists():
        return f"Admin login: user 'admin', password in {CREDENTIALS} (printed above when created)."
    return "Admin user 'admin' already existed; reset with `python manage.py changepassword admin`."


def main() -> int:
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    port = int(os.environ.get("PORT", "8000"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("DJANGO_SETTINGS_MODULE", "govhub.settings")
    missing = [n for n in ("DATABASE_URL", "REDIS_URL") if not env.get(n)]
    leased = False
    try:
        if missing:
            print("run: starting embedded PostgreSQL and Redis under var/", flush=True)
            urls = embedded.acquire()
            leased = True
            env.update({n: urls[n] for n in missing})
        # Celery reads CELERY_BROKER_URL from the environment before settings; kombu needs
        # redis+socket:// where redis-py takes unix://.
        env.setdefault("CELERY_BROKER_URL", embedded.celery_broker_url(env["REDIS_URL"]))
        manage = [PY, "manage.py"]
        _step("migrate", [*manage, "migrate", "--noinput"], env)
        _step("collectstatic", [*manage, "collectstatic", "--noinput", "-v", "0"], env)
        _step("load_demo", [*manage, "load_demo"], env)
        admin_note = _admin_note(_step("ensure_admin", [*manage, "ensure_admin"], env, capture=True))
        procs = {
            # --no-control-socket: the default ~/.gunicorn/gunicorn.ctl is shared by all checkouts.
            "web": _spawn([PY, "-m", "gunicorn", "govhub.wsgi:application", "--bind", f"127.0.0.1:{port}",
                           "--workers", "2", "--access-logfile", "-", "--error-logfile", "-",
                           "--no-control-socket"], env),
            "worker": _spawn([PY, "-m", "celery", "-A", "govhub", "worker", "-l", "INFO",
                              "--concurrency", "2"], env),
            "beat": _spawn([PY, "-m", "celery", "-A", "govhub", "beat", "-l", "INFO",
                            "--schedule", str(embedded.VAR / "celerybeat-schedule")], env),
        }
        return _supervise(procs, port, admin_note)
    finally:
        if leased:
            print("run: releasing embedded servers", flush=True)
            embedded.release()


if __name__ == "__main__":
    sys.exit(main())
