#!/usr/bin/env python
"""Run govhub's benchmarks and record their figures.

    python benchmarks/run.py              every benchmarks/bench_*.py
    python benchmarks/run.py catalog      one (by its NAME)
    python benchmarks/run.py --list

Each benchmark runs in a child process of its own (its own Django set-up, database and servers;
a crash cannot take the others down). Its figures are printed as
``BENCH <name> <value> <unit> target <op> <value>`` and merged into benchmarks/results.json,
replacing that benchmark's previous figures and keeping the others' (a full run also drops the
figures of benchmarks that no longer exist). A missed target is a
measurement: the exit status is 0 and the summary line says MISSED. The exit status is non-zero
only when a benchmark crashed (its previous figures then stay in results.json untouched).

Needs DATABASE_URL (and REDIS_URL) for benchmarks that touch the app; `make bench` provides both.
BENCH_DURATION sets the seconds per measurement (default 10).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import harness  # noqa: E402


def module_name(path: Path) -> str:
    """The NAME a bench_*.py declares, read without importing it; else the file's stem."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError):
        tree = None
    for node in tree.body if tree else []:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "NAME" and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)):
            return node.value.value
    return path.stem.removeprefix("bench_")


def discover(bench_dir: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(Path(bench_dir).glob("bench_*.py")):
        name = module_name(path)
        if name in found:
            raise SystemExit(f"bench: {path} and {found[name]} both declare NAME = {name!r}")
        found[name] = path
    return found


def load_module(path: Path) -> ModuleType:
    path = Path(path).resolve()
    if path.parent == harness.BENCH_DIR:
        return importlib.import_module(f"benchmarks.{path.stem}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


# --- the child: one benchmark ----------------------------------------------------------------


def run_child(name: str, path: Path, figures_out: Path, duration: float) -> int:
    interrupted = []

    def on_signal(signum, _frame):
        # The first signal unwinds the benchmark (its finally blocks drop the database and stop
        # the servers); later ones are ignored so that the clean-up can finish.
        if not interrupted:
            interrupted.append(signum)
            raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ctx = harness.Context(name, database_url=os.environ.get("DATABASE_URL") or None,
                          redis_url=os.environ.get("REDIS_URL") or None, duration=duration)
    try:
        module = load_module(path)
        figures = module.run(ctx)
        if not isinstance(figures, list) or not all(isinstance(f, harness.Figure) for f in figures):
            raise harness.BenchmarkError(f"{path.name}: run(ctx) must return a list of Figure")
        names = [f.name for f in figures]
        if len(set(names)) != len(names):
            raise harness.BenchmarkError(f"{path.name}: figure names repeat: {names}")
    except KeyboardInterrupt:
        print(f"bench {name}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    for figure in figures:
        print(figure.line(), flush=True)
    figures_out.write_text(json.dumps([f.to_dict() for f in figures]))
    return 0


# --- the parent: discovery, recording ----------------------------------------------------------


def _run_in_child(name: str, path: Path, duration: float) -> tuple[int, list[harness.Figure]]:
    fd, tmp = tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".json")
    os.close(fd)
    figures_out = Path(tmp)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--path", str(path),
           "--figures-out", str(figures_out), "--duration", str(duration)]
    try:
        # Its own session: a Ctrl-C or SIGTERM reaches it once, through us, so that it can clean up.
        child = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
        previous = {sig: signal.signal(sig, lambda signum, _f: child.send_signal(signum))
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            # Whatever the child left in its session (client processes of a benchmark that was
            # killed outright) goes with it. The session and its process group are the child's own.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
        if code != 0:
            return code, []
        try:
            return 0, [harness.Figure.from_dict(d) for d in json.loads(figures_out.read_text())]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"bench {name}: unreadable figures ({exc})", file=sys.stderr)
            return 1, []
    finally:
        figures_out.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--bench-dir", type=Path, default=harness.BENCH_DIR)
    parser.add_argument("--results", type=Path, default=harness.RESULTS_PATH)
    parser.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION") or 10),
                        help="seconds per measurement (default: $BENCH_DURATION or 10)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--figures-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return run_child(args.child, args.path, args.figures_out, args.duration)

    available = discover(args.bench_dir)
    if args.list:
        for name, path in available.items():
            print(f"{name}\t{path}")
        return 0
    names = [n for arg in args.names for n in arg.split()]
    full_run = not names
    names = names or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"bench: no benchmark named {', '.join(unknown)}; there are: {', '.join(available) or 'none'}",
              file=sys.stderr)
        return 2
    if not names:
        print(f"bench: no bench_*.py in {args.bench_dir}", file=sys.stderr)
        return 0

    machine = harness.machine_facts(os.environ.get("DATABASE_URL") or None)
    crashed: list[str] = []
    summaries: list[str] = []
    for name in names:
        code, figures = _run_in_child(name, available[name], args.duration)
        if code != 0:
            crashed.append(name)
            summaries.append(f"SUMMARY {name}: CRASHED (exit {code}); {args.results.name} keeps its previous figures")
            print(summaries[-1], flush=True)
            continue
        timestamp = harness.utc_timestamp()
        entries = [harness.result_entry(f, benchmark=name, machine=machine, timestamp=timestamp) for f in figures]
        # A full run also forgets the figures of benchmarks that no longer exist; a run of some
        # benchmarks replaces only theirs.
        harness.merge_results(args.results, name, entries, known_benchmarks=available if full_run else None)
        summaries.append(harness.summary_line(name, figures))
        print(summaries[-1], flush=True)
    if len(names) > 1:
        missed = sum("MISSED" in s for s in summaries)
        print(f"SUMMARY all: {len(names)} benchmarks, {len(crashed)} crashed, {missed} with MISSED targets; "
              f"figures in {args.results}", flush=True)
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
