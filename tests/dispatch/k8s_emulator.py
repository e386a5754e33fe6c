"""A small in-process emulator of the Kubernetes API server's batch/v1 Jobs endpoints, for testing
the official Python client's create / get / list / watch / patch / delete path without a cluster
(there is none on this machine). It is a test double, not Kubernetes: what it does is listed here.

- POST   /apis/batch/v1/namespaces/{ns}/jobs          201; 409 AlreadyExists; 422 when the body
  fails the strict batch/v1 Job schema (kubernetes-validate), as a real API server would refuse it
- GET    …/jobs[?labelSelector=a=b,c=d&fieldSelector=metadata.name=x]   JobList
- GET    …/jobs?watch=true&timeoutSeconds=N           newline-delimited watch events, chunked;
  ADDED for what exists, then MODIFIED / DELETED as they happen
- GET    …/jobs/{name}                                 the Job or 404 Status
- PATCH  …/jobs/{name}                                 merge patch (JSON merge semantics)
- DELETE …/jobs/{name}                                 Foreground: deletionTimestamp set, object
  removed (DELETED event) after ``teardown`` seconds; otherwise removed at once

A pretend Job controller: ``start_delay`` seconds after creation an unsuspended Job gets
``status.active = ready = 1`` and ``startTime``; suspending sets ``active = 0`` and a Suspended
condition. Every request needs ``Authorization: Bearer <token>`` (401 otherwise).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/apis/batch/v1/namespaces/"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _merge(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _selected(job: dict, labels: str, fields: str) -> bool:
    have = job["metadata"].get("labels") or {}
    for term in filter(None, labels.split(",")):
        key, _, value = term.partition("=")
        if have.get(key) != value:
            return False
    for term in filter(None, fields.split(",")):
        key, _, value = term.partition("=")
        if key == "metadata.name" and job["metadata"]["name"] != value:
            return False
    return True


class Emulator:
    def __init__(self, token: str = "test-token", start_delay: float = 0.2, teardown: float = 0.3, validate: bool = True):
        self.token, self.start_delay, self.teardown, self.validate = token, start_delay, teardown, validate
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, str, dict]] = []  # (seq, ns, type, object)
        self.requests: list[tuple[str, str]] = []
        self.cond = threading.Condition()
        self._rv = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Emulator:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- state (called with self.cond held) ---------------------------------------------------

    def _emit(self, ns: str, kind: str, job: dict) -> None:
        self._rv += 1
        job["metadata"]["resourceVersion"] = str(self._rv)
        self.events.append((self._rv, ns, kind, copy.deepcopy(job)))
        self.cond.notify_all()

    def _later(self, delay: float, fn, *args) -> None:
        def run():
            time.sleep(delay)
            with self.cond:
                fn(*args)
        threading.Thread(target=run, daemon=True).start()

    def _start(self, ns: str, name: str) -> None:
        job = self.jobs.get((ns, name))
        if job and not job["spec"].get("suspend") and not job["metadata"].get("deletionTimestamp"):
            job["status"].update(active=1, ready=1, startTime=job["status"].get("startTime") or _now())
            self._emit(ns, "MODIFIED", job)

    def _remove(self, ns: str, name: str) -> None:
        job = self.jobs.pop((ns, name), None)
        if job is not None:
            self._emit(ns, "DELETED", job)

    def create(self, ns: str, body: dict) -> tuple[int, dict]:
        if self.validate:
            import kubernetes_validate

            try:
                kubernetes_validate.validate(body, "1.33", strict=True)
            except kubernetes_validate.ValidationError as exc:
                return 422, _status(422, "Invalid", f"Job is invalid: {'.'.join(map(str, exc.path))}: {exc.message}")
        name = body["metadata"]["name"]
        with self.cond:
            if (ns, name) in self.jobs:
                return 409, _status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
            job = copy.deepcopy(body)
            job["metadata"].update(namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now())
            job["status"] = {}
            self.jobs[(ns, name)] = job
            self._emit(ns, "ADDED", job)
            self._later(self.start_delay, self._start, ns, name)
            return 201, copy.deepcopy(job)

    def patch(self, ns: str, name: str, patch: dict) -> tuple[int, dict]:
        with self.cond:
            job = self.jobs.get((ns, name))
            if job is None:
                return 404, _status(404, "NotFound", f'jobs.batch "{name}" not found')
            _merge(job, {k: v for k, v in patch.items() if k != "status"})
            if job["spec"].get("suspend"):
                job["status"].update(active=0, ready=0)
                job["status"]["conditions"] = [{"type": "Suspended", "status": "True", "reason": "JobSuspended",
                                                "lastTransitionTime": _now(), "lastProbeTime": _now()}]
            else:
                self._later(self.start_delay, self._start, ns, name)
            self._emit(ns, "MODIFIED", job)
            return 200, copy.deepcopy(job)

    def delete(self, ns: str, name: str, options: dict) -> tuple[int, dict]:
        with self.cond:
            job = self.jobs.get((ns, name))
            if job is None:
                return 404, _status(404, "NotFound", f'jobs.batch "{name}" not found')
            if options.get("propagationPolicy") == "Foreground":
                job["metadata"].update(deletionTimestamp=_now(), finalizers=["foregroundDeletion"])
                self._emit(ns, "MODIFIED", job)
                self._later(self.teardown, self._remove, ns, name)
            else:
                self._remove(ns, name)
            return 200, copy.deepcopy(job)

    def _handler(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self) -> tuple[str, str | None, dict[str, list[str]]] | None:
                parts = urlsplit(self.path)
                emulator.requests.append((self.command, parts.path))
                if self.headers.get("Authorization") != f"Bearer {emulator.token}":
                    self._send(401, _status(401, "Unauthorized", "Unauthorized"))
                    return None
                rest = parts.path[len(PREFIX):].split("/") if parts.path.startswith(PREFIX) else []
                if len(rest) < 2 or rest[1] != "jobs" or len(rest) > 3:
                    self._send(404, _status(404, "NotFound", "the server could not find the requested resource"))
                    return None
                return rest[0], (rest[2] if len(rest) == 3 else None), parse_qs(parts.query)

            def _body(self) -> dict:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}") if length else {}

            def do_POST(self) -> None:  # noqa: N802
                route = self._route()
                if route:
                    self._send(*emulator.create(route[0], self._body()))

            def do_PATCH(self) -> None:  # noqa: N802
                route = self._route()
                if route and route[1]:
                    self._send(*emulator.patch(route[0], route[1], self._body()))

            def do_DELETE(self) -> None:  # noqa: N802
                route = self._route()
                if route and route[1]:
                    self._send(*emulator.delete(route[0], route[1], self._body()))

            def do_GET(self) -> None:  # noqa: N802
                route = self._route()
                if not route:
                    return
                ns, name, query = route
                if name:
                    with emulator.cond:
                        job = emulator.jobs.get((ns, name))
                        self._send(200, copy.deepcopy(job)) if job else self._send(404, _status(404, "NotFound", f'jobs.batch "{name}" not found'))
                    return
                labels, fields = query.get("labelSelector", [""])[0], query.get("fieldSelector", [""])[0]
                if query.get("watch", ["false"])[0].lower() in ("true", "1"):
                    self._watch(ns, labels, fields, float(query.get("timeoutSeconds", ["30"])[0]))
                    return
                with emulator.cond:
                    items = [copy.deepcopy(j) for (n, _), j in sorted(emulator.jobs.items()) if n == ns and _selected(j, labels, fields)]
                    body = {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": str(emulator._rv)}, "items": items}
                self._send(200, body)

            def _chunk(self, event: dict) -> None:
                data = (json.dumps(event) + "\n").encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _watch(self, ns: str, labels: str, fields: str, timeout: float) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                deadline = time.monotonic() + timeout
                with emulator.cond:
                    seq = emulator._rv
                    initial = [copy.deepcopy(j) for (n, _), j in sorted(emulator.jobs.items()) if n == ns and _selected(j, labels, fields)]
                try:
                    for job in initial:
                        self._chunk({"type": "ADDED", "object": job})
                    while time.monotonic() < deadline:
                        with emulator.cond:
                            emulator.cond.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))
                            new = [e for e in emulator.events if e[0] > seq and e[1] == ns and _selected(e[3], labels, fields)]
                            seq = emulator._rv
                        for _, _, kind, obj in new:
                            self._chunk({"type": kind, "object": obj})
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler
