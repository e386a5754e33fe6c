"""The benchmark harness: figures, BENCH lines, results.json, machine facts, and the helpers a
benchmark uses (a throwaway database, a gunicorn server, Django set up against that database).

A benchmark is a module ``benchmarks/bench_<x>.py`` with ``NAME = "<x>"`` and
``def run(ctx: Context) -> list[Figure]``; ``benchmarks/run.py`` runs each one in its own process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
RESULTS_PATH = BENCH_DIR / "results.json"
OUT_DIR = BENCH_DIR / "out"  # logs and profiles; git-ignored

OPS = (">=", "<=")
_WORD = re.compile(r"^[^\s]+$")
_DB_NAME = re.compile(r"^bench_[a-z0-9_]{1,50}$")


class BenchmarkError(RuntimeError):
    """The benchmark could not produce a valid figure (errors under load, a server that would not
    start, a database it may not touch). The run counts as crashed, not as a missed target."""


# --- figures -------------------------------------------------------------------------------


def format_number(value: float) -> str:
    """Short, stable text for a figure: 812.4, 45.7, 3.46, 150."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Figure:
    """One measured number and the target it is held to (``op`` is ``>=`` or ``<=``)."""

    name: str
    value: float
    unit: str
    op: str
    target: float

    def __post_init__(self) -> None:
        if not _WORD.match(self.name) or not _WORD.match(self.unit):
            raise ValueError(f"figure name and unit must be single words: {self.name!r} {self.unit!r}")
        if self.op not in OPS:
            raise ValueError(f"figure {self.name}: op must be one of {OPS}, not {self.op!r}")
        for label, number in (("value", self.value), ("target", self.target)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                raise ValueError(f"figure {self.name}: {label} must be a finite number, not {number!r}")

    @property
    def met(self) -> bool:
        return self.value >= self.target if self.op == ">=" else self.value <= self.target

    def line(self) -> str:
        return f"BENCH {self.name} {format_number(self.value)} {self.unit} target {self.op} {format_number(self.target)}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "op": self.op, "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Figure":
        return cls(name=data["name"], value=data["value"], unit=data["unit"], op=data["op"], target=data["target"])


def summary_line(benchmark: str, figures: list[Figure]) -> str:
    missed = [f.name for f in figures if not f.met]
    if not figures:
        return f"SUMMARY {benchmark}: no figures"
    if not missed:
        return f"SUMMARY {benchmark}: {len(figures)} figures, all targets met"
    return f"SUMMARY {benchmark}: {len(figures)} figures, {len(missed)} MISSED: {', '.join(missed)}"


# --- results.json ----------------------------------------------------------------------------


def utc_timestamp() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def result_entry(figure: Figure, *, benchmark: str, machine: dict[str, Any], timestamp: str) -> dict[str, Any]:
    return {
        "name": figure.name,
        "value": round(float(figure.value), 3),
        "unit": figure.unit,
        "target": {"op": figure.op, "value": figure.target},
        "met": figure.met,
        "machine": machine,
        "benchmark": benchmark,
        "timestamp": timestamp,
    }


def load_results(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return []
    except ValueError as exc:
        print(f"bench: {path} is not valid JSON ({exc}); starting it afresh", file=sys.stderr)
        return []
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def merge_results(path: Path, benchmark: str, entries: list[dict[str, Any]],
                  known_benchmarks: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Replace ``benchmark``'s figures in ``path`` with ``entries`` and keep every other
    benchmark's. With ``known_benchmarks``, figures of benchmarks that no longer exist are dropped."""
    known = set(known_benchmarks) if known_benchmarks is not None else None
    kept = [e for e in load_results(path)
            if e.get("benchmark") != benchmark and (known is None or e.get("benchmark") in known)]
    merged = kept + list(entries)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(merged, indent=2) + "\n")
    os.replace(tmp, path)
    return merged


# --- machine facts ---------------------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def cpu_count() -> int:
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def postgres_version(database_url: str | None) -> str | None:
    if not database_url:
        return None
    try:
        import psycopg

        with psycopg.connect(with_database(database_url, "postgres"), connect_timeout=5) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # a fact we could not read is not a crash
        print(f"bench: could not read the PostgreSQL version ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None


def machine_facts(database_url: str | None) -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpus": cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "postgres_version": postgres_version(database_url),
    }


def cpu_busy_snapshot() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine, from /proc/stat; None where unavailable."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def process_cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc; 0 for the ones
    that are gone or unreadable)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def process_group_members(pgid: int) -> list[int]:
    """The pids in process group ``pgid`` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == pgid:
                    members.append(int(entry.name))
    return members


# --- database URLs ---------------------------------------------------------------------------


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as ``url``, another database."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + urllib.parse.quote(dbname)))


def database_name(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.lstrip("/"))


def redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


# --- servers ---------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def default_wsgi_app() -> str:
    """``govhub.wsgi:application``, or the benchmarks' own shim while govhub/wsgi.py is missing."""
    if (ROOT / "govhub" / "wsgi.py").exists():
        return "govhub.wsgi:application"
    return "benchmarks.wsgi_shim:application"


@dataclass
class Server:
    host: str
    port: int
    pid: int
    workers: int
    log_path: Path

    def pids(self) -> list[int]:
        """The master and its workers."""
        return process_group_members(self.pid)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def get(self, path: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _die_with_parent_hook():
    """A preexec_fn that makes the server get SIGTERM when the benchmark process dies (even by
    SIGKILL), so that a killed benchmark does not leave gunicorn running. Linux only; None
    elsewhere. libc is loaded here, in the parent, so the hook only makes one call after fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _stop_process_group(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the server (gunicorn stops its workers gracefully), then SIGKILL whatever is left
    of the process group it leads; the group is ours (started with start_new_session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    for _ in range(50):
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


# --- the context handed to a benchmark -------------------------------------------------------


@dataclass
class Context:
    """What a benchmark gets: where to measure, for how long, and helpers that clean up after
    themselves. ``duration`` is the length of one measurement in seconds."""

    name: str
    database_url: str | None = None
    redis_url: str | None = None
    duration: float = 10.0
    out_dir: Path = OUT_DIR
    log_stream: TextIO = field(default_factory=lambda: sys.stderr)
    _django_url: str | None = field(default=None, repr=False)

    def log(self, message: str) -> None:
        print(f"[{self.name}] {message}", file=self.log_stream, flush=True)

    def background_cpu(self, seconds: float = 1.0) -> float | None:
        """How busy the machine is before we load it (percent of all CPUs over ``seconds``);
        logged, with a note when other work is likely to lower the figures."""
        before = cpu_busy_snapshot()
        time.sleep(seconds)
        after = cpu_busy_snapshot()
        if not before or not after or after[1] <= before[1]:
            return None
        busy = 100 * (after[0] - before[0]) / (after[1] - before[1])
        note = "; other work on this machine will lower the figures" if busy > 15 else ""
        self.log(f"machine CPU busy {busy:.0f}% before the measurements{note}")
        return busy

    def server_env(self, database_url: str) -> dict[str, str]:
        """The environment the app runs under in a benchmark: test settings, DEBUG off, the
        benchmark's own database."""
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": database_url,
            "GOVHUB_ENV": "test",
            "DEBUG": "False",
            "DJANGO_SETTINGS_MODULE": "govhub.settings",
            "PYTHONUNBUFFERED": "1",
        })
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        pythonpath = env.get("PYTHONPATH", "")
        if str(ROOT) not in pythonpath.split(os.pathsep):
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), pythonpath) if p)
        return env

    # The throwaway database ------------------------------------------------------------------

    def settle_disk(self, admin_url: str) -> None:
        """CHECKPOINT before measuring: the WAL an earlier benchmark wrote (the ledger's million
        events) otherwise makes a checkpoint due in the middle of this one, and its writes slow
        every commit's fsync (measured: single-event ingestion 199 instead of ~330 events/s, with
        the CPU half idle). Needs a superuser; without one the run goes on and says so."""
        import psycopg

        try:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                started = time.monotonic()
                conn.execute("CHECKPOINT")
            self.log(f"checkpoint before measuring: {time.monotonic() - started:.1f} s")
        except psycopg.Error as exc:
            self.log(f"could not CHECKPOINT before measuring ({exc}); figures may include an earlier run's checkpoint")

    @contextlib.contextmanager
    def bench_database(self, suffix: str | None = None) -> Iterator[str]:
        """CREATE DATABASE bench_<name> on the server in DATABASE_URL, migrate it, yield its URL,
        DROP it afterwards (also on failure or Ctrl-C). The user's own database is never touched."""
        if not self.database_url:
            raise BenchmarkError("DATABASE_URL is not set; run `make bench` (it provides one) or export it")
        import psycopg
        from psycopg import sql

        dbname = f"bench_{suffix or self.name}".lower().replace("-", "_").replace(".", "_")
        if not _DB_NAME.match(dbname):
            raise BenchmarkError(f"refusing to use {dbname!r} as a benchmark database name")
        if dbname in {database_name(self.database_url), "postgres", "template0", "template1"}:
            raise BenchmarkError(f"refusing to use {dbname!r}: it is the main or a system database")
        admin_url = with_database(self.database_url, "postgres")
        url = with_database(self.database_url, dbname)

        def drop() -> None:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname)))

        drop()  # a leftover from a run that was killed outright
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        self.log(f"created database {dbname} on {redact(with_database(self.database_url, ''))}")
        try:
            started = time.monotonic()
            self.migrate(url)
            self.log(f"migrated {dbname} in {time.monotonic() - started:.1f} s")
            self.settle_disk(admin_url)
            yield url
        finally:
            if self._django_url is not None:
                with contextlib.suppress(Exception):
                    from django.db import connections

                    connections.close_all()
            drop()
            self.log(f"dropped database {dbname}")

    def migrate(self, database_url: str) -> None:
        proc = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=self.server_env(database_url), capture_output=True, text=True, timeout=300,
        )
        if proc.returncode != 0:
            raise BenchmarkError(f"manage.py migrate failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")

    # Django in the benchmark process ---------------------------------------------------------

    def django_setup(self, database_url: str) -> None:
        """Set Django up in this process against ``database_url`` (once per benchmark process:
        the settings read the environment when first imported)."""
        if self._django_url is not None:
            if self._django_url != database_url:
                raise BenchmarkError("Django is already set up against another database in this process")
            return
        env = self.server_env(database_url)
        for key in ("DATABASE_URL", "REDIS_URL", "GOVHUB_ENV", "DEBUG", "DJANGO_SETTINGS_MODULE"):
            if key in env:
                os.environ[key] = env[key]
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        self._django_url = database_url

    # The server ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def gunicorn(self, database_url: str, *, workers: int = 2, app: str | None = None,
                 extra_args: Iterable[str] = (), ready_path: str = "/health/", timeout: float = 60) -> Iterator[Server]:
        """Start ``gunicorn`` (sync workers) on a free 127.0.0.1 port against ``database_url``,
        wait until ``ready_path`` answers 200, yield the Server, stop it and its workers."""
        host = "127.0.0.1"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.out_dir / f"{self.name}-gunicorn.log"
        app = app or default_wsgi_app()
        port = free_port(host)
        cmd = [
            sys.executable, "-m", "gunicorn", app,
            "--workers", str(workers), "--worker-class", "sync",
            "--bind", f"{host}:{port}", "--chdir", str(ROOT),
            "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning",
            *extra_args,
        ]
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.server_env(database_url), stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=_die_with_parent_hook())
        server = Server(host=host, port=port, pid=proc.pid, workers=workers, log_path=log_path)
        try:
            self._wait_ready(proc, server, ready_path, timeout)
            self.log(f"gunicorn {app} up at {server.base_url} (pid {proc.pid}, {workers} sync workers)")
            yield server
        finally:
            _stop_process_group(proc)
            self.log(f"gunicorn (pid {proc.pid}) stopped")

    def _wait_ready(self, proc: subprocess.Popen, server: Server, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchmarkError(f"gunicorn exited with {proc.returncode} before answering:\n{_tail(server.log_path)}")
            try:
                status, body = server.get(path, timeout=5)
            except (OSError, http.client.HTTPException) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:300]!r}"
            time.sleep(0.2)
        raise BenchmarkError(f"gunicorn did not answer {path} with 200 within {timeout:.0f} s ({last}):\n{_tail(server.log_path)}")
