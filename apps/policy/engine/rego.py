"""Custom rules in Rego behind a small interface, so the engine can be swapped without touching
the rules (docs/adr/0021-rego-engine.md).

The engine is Microsoft's ``regopy`` (MIT), the official Python binding of rego-cpp, which passes
OPA's conformance suite and runs in-process (no OPA server, no Go toolchain). A module is compiled
once into a bundle; each evaluation runs the bundle in a fresh interpreter on a worker thread, so
a runaway policy is abandoned after its timeout (the native call releases the GIL) and the
decision fails closed."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)\s*$", re.MULTILINE)
# A module that never reads ``input.cluster`` gives the same answer on every candidate cluster, so
# it is evaluated once per job instead of once per cluster (input.clusters, the list, does not count).
USES_CLUSTER = re.compile(r"input\s*\.\s*cluster\b|input\s*\[\s*\"cluster\"\s*\]")
ERROR_AT = re.compile(r"\(error \d+:[^|\s]*\|(\d+)\|\d+\s*\(errormsg \d+:([^)]*)\)")
MAX_ABANDONED = 8  # evaluations still running past their timeout; beyond this we refuse new ones


class RegoSyntaxError(Exception):
    """The module does not compile; ``errors`` are (line, column, message)."""

    def __init__(self, errors: list[tuple[int, int, str]]):
        self.errors = errors
        super().__init__("; ".join(f"line {ln}, column {col}: {msg}" for ln, col, msg in errors))


class RegoRuntimeError(Exception):
    pass


class RegoTimeout(Exception):
    pass


@dataclass
class CompiledModule:
    source: str
    package: str
    digest: str
    bundle: Any = field(repr=False, default=None)
    uses_cluster: bool = True


@dataclass
class RegoResult:
    deny: list[dict[str, Any]]
    warn: list[dict[str, Any]]


class RegoEngine(Protocol):
    name: str

    def compile(self, source: str) -> CompiledModule: ...

    def evaluate(self, module: CompiledModule, document: dict[str, Any], timeout: float) -> RegoResult: ...


def _position(source: str, offset: int) -> tuple[int, int]:
    before = source.encode()[:offset].decode(errors="replace")
    return before.count("\n") + 1, len(before.rsplit("\n", 1)[-1]) + 1


def _messages(values: Any) -> list[dict[str, Any]]:
    """Gatekeeper/conftest style: each member is a message or an object with ``msg`` (and
    optionally ``asset``, an asset id or name)."""
    out = []
    for value in values or []:
        if isinstance(value, dict):
            out.append({"msg": str(value.get("msg") or value.get("message") or value), "asset": value.get("asset")})
        else:
            out.append({"msg": str(value), "asset": None})
    return sorted(out, key=lambda m: m["msg"])


class RegopyEngine:
    name = "regopy"

    def __init__(self) -> None:
        import regopy  # noqa: F401 - fail here (and fail closed) when the binding is missing

        self._abandoned = 0
        self._lock = threading.Lock()

    def _interpreter(self) -> Any:
        from regopy import Interpreter, LogLevel

        interp = Interpreter()
        interp.log_level = LogLevel.NONE  # errors come back as exceptions, not on stdout
        return interp

    def compile(self, source: str) -> CompiledModule:
        from regopy import RegoError

        match = PACKAGE.search(source or "")
        if match is None:
            raise RegoSyntaxError([(1, 1, "A module starts with a package declaration, e.g. `package govhub.custom`.")])
        package = match.group(1)
        interp = self._interpreter()
        query = "x := {" + ", ".join(f'"{k}": object.get(data.{package}, "{k}", [])' for k in ("deny", "violation", "warn")) + "}"
        try:
            interp.add_module("policy.rego", source)
            bundle = interp.build(query)
        except RegoError as exc:
            found = [(*_position(source, int(off)), msg.strip()) for off, msg in ERROR_AT.findall(str(exc))]
            raise RegoSyntaxError(found or [(1, 1, str(exc).strip()[:500])]) from None
        if not bundle.ok():
            raise RegoSyntaxError([(1, 1, "The module did not compile.")])
        return CompiledModule(source=source, package=package, digest=hashlib.sha256(source.encode()).hexdigest(), bundle=bundle,
                              uses_cluster=bool(USES_CLUSTER.search(source)))

    def _run(self, module: CompiledModule, document: dict[str, Any]) -> RegoResult:
        from regopy import Input

        interp = self._interpreter()
        interp.strict_built_in_errors = True  # a builtin that fails is an error (fail closed), not "undefined"
        interp.set_input(Input(document))
        output = interp.query_bundle(module.bundle)
        if not output.ok() or not output.results:
            raise RegoRuntimeError(f"the query of package {module.package} was undefined or failed: {str(output)[:300]}")
        value = output.results[0].bindings.get("x") or {}
        return RegoResult(deny=_messages([*value.get("deny", []), *value.get("violation", [])]), warn=_messages(value.get("warn")))

    def evaluate(self, module: CompiledModule, document: dict[str, Any], timeout: float) -> RegoResult:
        with self._lock:
            if self._abandoned >= MAX_ABANDONED:
                raise RegoTimeout(f"{self._abandoned} earlier Rego evaluations are still running past their timeout")
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["result"] = self._run(module, document)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc
            finally:
                if box.pop("abandoned", False):
                    with self._lock:
                        self._abandoned -= 1

        thread = threading.Thread(target=work, name="rego-eval", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            with self._lock:
                self._abandoned += 1
            box["abandoned"] = True
            raise RegoTimeout(f"the Rego evaluation took longer than {timeout * 1000:.0f} ms")
        if "error" in box:
            error = box["error"]
            raise error if isinstance(error, RegoRuntimeError) else RegoRuntimeError(f"{type(error).__name__}: {error}")
        return box["result"]


_engine: RegoEngine | None = None
_engine_error: str = ""


def engine() -> RegoEngine:
    """The process's Rego engine; raises RegoRuntimeError (so rules fail closed) when unavailable."""
    global _engine, _engine_error
    if _engine is None and not _engine_error:
        try:
            _engine = RegopyEngine()
        except ImportError as exc:
            _engine_error = f"the Rego engine (regopy) is not installed: {exc}"
    if _engine is None:
        raise RegoRuntimeError(_engine_error)
    return _engine
