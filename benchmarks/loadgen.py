"""A small closed-loop HTTP load generator in pure Python (no wrk needed).

``processes`` client processes, each with one ``http.client`` connection, send GET requests back
to back for a fixed time; each request's latency runs from sending the request to having read
the whole body. Concurrency is therefore ``processes`` requests in flight. The connection is
kept alive where the server allows it; gunicorn's sync workers close it after every response,
so those clients reconnect for each request (the cost a real client of a sync server pays too).

The client processes are spawned, not forked, so they carry none of the benchmark process's
Django state or database connections. This module imports only the standard library.
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import random
import time
from dataclasses import dataclass, field
from typing import Any

MAX_ERROR_SAMPLES = 5


@dataclass
class LoadResult:
    label: str
    ok: int
    errors: int
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)
    error_samples: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0
    connects: int = 0

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the successful requests' latencies, in ms."""
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        return ordered[rank - 1]

    def describe(self) -> str:
        return (f"{self.label}: {self.ok} ok, {self.errors} errors in {self.elapsed_s:.1f} s = {self.throughput:.1f} req/s, "
                f"p50 {self.percentile(50):.1f} ms, p95 {self.percentile(95):.1f} ms, p99 {self.percentile(99):.1f} ms, "
                f"max {max(self.latencies_ms, default=float('nan')):.1f} ms; {self.connects} connects; "
                f"client CPU {self.client_cpu_s:.1f} s")


def _client(host: str, port: int, headers: dict[str, str], paths: list[str], start_at: float, duration: float,
            seed: int, timeout: float) -> dict[str, Any]:
    """One client: wait for ``start_at`` (time.monotonic, shared by all processes on Linux), then
    request ``paths`` (in random order) until ``start_at + duration``."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    latencies: list[float] = []
    errors = 0
    samples: list[str] = []
    connects = 0
    cpu0 = time.process_time()
    while (wait := start_at - time.monotonic()) > 0:
        time.sleep(min(wait, 0.05))
    deadline = start_at + duration
    begun = time.monotonic()
    n = len(paths)
    while time.monotonic() < deadline:
        path = paths[rng.randrange(n)] if n > 1 else paths[0]
        if conn.sock is None:
            connects += 1
        t0 = time.perf_counter()
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            errors += 1
            if len(samples) < MAX_ERROR_SAMPLES:
                samples.append(f"GET {path}: {type(exc).__name__}: {exc}")
            continue
        elapsed_ms = (time.perf_counter() - t0) * 1000
        if resp.status != 200:
            errors += 1
            if len(samples) < MAX_ERROR_SAMPLES:
                samples.append(f"GET {path}: HTTP {resp.status}: {body[:200]!r}")
            continue
        latencies.append(elapsed_ms)
    ended = time.monotonic()
    conn.close()
    return {"latencies": latencies, "errors": errors, "samples": samples, "begun": begun, "ended": ended,
            "cpu": time.process_time() - cpu0, "connects": connects}


def _ping(_: int) -> int:
    time.sleep(0.05)
    return 0


class LoadGenerator:
    """``with LoadGenerator(host, port, processes=4, headers=...) as load: load.run(label, paths, 10)``"""

    def __init__(self, host: str, port: int, *, processes: int = 4, headers: dict[str, str] | None = None,
                 timeout: float = 30):
        self.host, self.port, self.processes, self.timeout = host, port, processes, timeout
        self.headers = {"Accept": "application/json", **(headers or {})}
        self._pool = multiprocessing.get_context("spawn").Pool(processes)
        self._pool.map(_ping, range(processes * 2))  # every client process is up before timing starts
        self._round = 0

    def run(self, label: str, paths: list[str], duration: float) -> LoadResult:
        if not paths:
            raise ValueError("no paths to request")
        self._round += 1
        start_at = time.monotonic() + 0.3
        args = [(self.host, self.port, self.headers, list(paths), start_at, duration, self._round * 1000 + i, self.timeout)
                for i in range(self.processes)]
        parts = self._pool.starmap(_client, args)
        latencies = [x for p in parts for x in p["latencies"]]
        samples = [s for p in parts for s in p["samples"]][:MAX_ERROR_SAMPLES]
        begun = min(p["begun"] for p in parts)
        ended = max(p["ended"] for p in parts)
        return LoadResult(label=label, ok=len(latencies), errors=sum(p["errors"] for p in parts), elapsed_s=ended - begun,
                          latencies_ms=latencies, error_samples=samples, client_cpu_s=sum(p["cpu"] for p in parts),
                          connects=sum(p["connects"] for p in parts))

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> "LoadGenerator":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._pool.terminate()
            self._pool.join()
