"""The local backend's runner: ``python -m workers.dispatch.local_runner STATE_DIR TAG LIMIT_S
KILL_WAIT_S -- COMMAND...`` detaches (double fork, own session), starts COMMAND in its own process
group, and keeps ``STATE_DIR/TAG.json`` up to date: running (with pids and start time), then
succeeded/failed (exit code), cancelled (SIGTERM to the runner: SIGTERM to the command's group,
SIGKILL after KILL_WAIT_S) or timeout (past LIMIT_S). The first process exits once the state
file says running, so the caller knows the job started (or why it did not)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def write_state(path: Path, **state) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def supervise(path: Path, limit_s: float, kill_wait: float, command: list[str]) -> int:
    base = {"runner_pid": os.getpid(), "command": command}
    try:
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=open(path.with_suffix(".log"), "ab"),  # noqa: SIM115
                                 stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        write_state(path, **base, state="failed", reason=f"could not start: {exc}", ended_at=_now())
        return 1
    started = _now()
    write_state(path, **base, state="running", child_pid=child.pid, started_at=started)
    outcome = {"state": None}

    def stop(reason: str) -> None:
        outcome["state"] = reason
        for sig, wait in ((signal.SIGTERM, kill_wait), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                return
            try:
                child.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    signal.signal(signal.SIGTERM, lambda *_: stop("cancelled"))
    deadline = time.monotonic() + limit_s
    while child.poll() is None:
        if time.monotonic() >= deadline:
            stop("timeout")
            break
        try:
            child.wait(timeout=min(1.0, max(0.01, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            pass
    child.wait()
    state = outcome["state"] or ("succeeded" if child.returncode == 0 else "failed")
    write_state(path, **base, state=state, child_pid=child.pid, started_at=started, ended_at=_now(), exit_code=child.returncode)
    return 0


def main(argv: list[str]) -> int:
    state_dir, tag, limit_s, kill_wait, sep, *command = argv
    if sep != "--" or not command:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(state_dir) / f"{tag}.json"
    if os.fork() > 0:  # the caller's child: wait until the runner reports, then exit
        for _ in range(500):
            if path.exists():
                return 0
            time.sleep(0.01)
        return 1
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os._exit(supervise(path, float(limit_s), float(kill_wait), command))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
