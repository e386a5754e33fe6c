"""The benchmark harness, without timing anything: BENCH lines, ``met``, results.json merging,
and the runner end to end with fake benchmark modules (no database, no servers)."""

from __future__ import annotations

import json
import textwrap

import pytest

from benchmarks import harness, run
from benchmarks.harness import Figure

MACHINE = {"hostname": "h", "cpus": 2, "cpu_model": "cpu", "memory_gb": 4.0, "python": "3.11", "postgres_version": None}


def test_bench_lines_are_formatted_exactly():
    assert Figure("catalog.list.throughput", 812.4, "req/s", ">=", 200).line() == \
        "BENCH catalog.list.throughput 812.4 req/s target >= 200"
    assert Figure("catalog.detail.p95", 12.3456, "ms", "<=", 50).line() == "BENCH catalog.detail.p95 12.3 ms target <= 50"
    assert Figure("x.y", 1234.56, "req/s", ">=", 0.5).line() == "BENCH x.y 1234.6 req/s target >= 0.5"
    assert Figure("x.y", 0.01234, "s", "<=", 1).line() == "BENCH x.y 0.0123 s target <= 1"


@pytest.mark.parametrize(("op", "value", "target", "met"), [
    (">=", 151, 150, True), (">=", 150, 150, True), (">=", 149.9, 150, False),
    ("<=", 99, 100, True), ("<=", 100, 100, True), ("<=", 100.1, 100, False),
])
def test_met_for_both_operators(op, value, target, met):
    figure = Figure("a.b", value, "u", op, target)
    assert figure.met is met
    entry = harness.result_entry(figure, benchmark="a", machine=MACHINE, timestamp="2026-01-01T00:00:00+00:00")
    assert entry == {"name": "a.b", "value": value, "unit": "u", "target": {"op": op, "value": target}, "met": met,
                     "machine": MACHINE, "benchmark": "a", "timestamp": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("bad", [
    {"op": ">"}, {"op": "=="}, {"name": "two words"}, {"unit": ""}, {"value": float("nan")}, {"target": None},
])
def test_malformed_figures_are_refused(bad):
    fields = {"name": "a.b", "value": 1.0, "unit": "ms", "op": "<=", "target": 2.0, **bad}
    with pytest.raises(ValueError):
        Figure(**fields)


def test_merge_replaces_one_benchmark_and_keeps_the_others(tmp_path):
    path = tmp_path / "results.json"

    def entries(benchmark, *values):
        return [harness.result_entry(Figure(f"{benchmark}.f{i}", v, "ms", "<=", 10), benchmark=benchmark,
                                     machine=MACHINE, timestamp="t") for i, v in enumerate(values)]

    harness.merge_results(path, "catalog", entries("catalog", 1, 2, 3))
    harness.merge_results(path, "lineage", entries("lineage", 4))
    harness.merge_results(path, "catalog", entries("catalog", 20))
    data = json.loads(path.read_text())
    assert [(e["benchmark"], e["name"], e["value"], e["met"]) for e in data] == [
        ("lineage", "lineage.f0", 4, True), ("catalog", "catalog.f0", 20, False)]
    # A benchmark whose module is gone loses its figures when the known set is given.
    harness.merge_results(path, "catalog", entries("catalog", 5), known_benchmarks={"catalog"})
    assert {e["benchmark"] for e in json.loads(path.read_text())} == {"catalog"}


def test_merge_survives_a_missing_or_broken_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("{not json")
    merged = harness.merge_results(path, "a", [{"benchmark": "a", "name": "a.x"}])
    assert merged == [{"benchmark": "a", "name": "a.x"}]


def test_summary_line_marks_missed_targets():
    ok, missed = Figure("a.ok", 1, "ms", "<=", 2), Figure("a.slow", 3, "ms", "<=", 2)
    assert harness.summary_line("a", [ok]) == "SUMMARY a: 1 figures, all targets met"
    assert harness.summary_line("a", [ok, missed]) == "SUMMARY a: 2 figures, 1 MISSED: a.slow"


def _write_bench(directory, filename, body):
    (directory / filename).write_text(textwrap.dedent(body))


@pytest.fixture
def bench_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # machine facts then skip PostgreSQL
    directory = tmp_path / "benches"
    directory.mkdir()
    _write_bench(directory, "bench_fake.py", """
        from benchmarks.harness import Figure

        NAME = "fake"

        def run(ctx):
            ctx.log(f"duration {ctx.duration}")
            return [Figure("fake.throughput", 812.4, "req/s", ">=", 200),
                    Figure("fake.p95", 120.0, "ms", "<=", 100)]
    """)
    _write_bench(directory, "bench_broken.py", """
        NAME = "broken"

        def run(ctx):
            raise RuntimeError("boom")
    """)
    return directory


def test_runner_prints_lines_records_results_and_exits_0_on_a_miss(bench_dir, tmp_path, capfd):
    results = tmp_path / "results.json"
    results.write_text(json.dumps([{"benchmark": "other", "name": "other.x", "value": 1}]))
    code = run.main(["fake", "--bench-dir", str(bench_dir), "--results", str(results), "--duration", "0.5"])
    out = capfd.readouterr().out.splitlines()
    assert code == 0
    assert "BENCH fake.throughput 812.4 req/s target >= 200" in out
    assert "BENCH fake.p95 120 ms target <= 100" in out
    assert "SUMMARY fake: 2 figures, 1 MISSED: fake.p95" in out
    data = json.loads(results.read_text())
    fake = {e["name"]: e for e in data if e["benchmark"] == "fake"}
    assert [e["name"] for e in data if e["benchmark"] == "other"] == ["other.x"]
    assert fake["fake.throughput"]["met"] is True and fake["fake.p95"]["met"] is False
    assert fake["fake.p95"]["target"] == {"op": "<=", "value": 100}
    assert set(fake["fake.p95"]["machine"]) == {"hostname", "cpus", "cpu_model", "memory_gb", "python", "postgres_version"}
    assert fake["fake.p95"]["timestamp"].endswith("+00:00")


def test_a_crash_exits_non_zero_and_keeps_previous_figures(bench_dir, tmp_path, capfd):
    results = tmp_path / "results.json"
    previous = [{"benchmark": "broken", "name": "broken.x", "value": 1}]
    results.write_text(json.dumps(previous + [{"benchmark": "gone", "name": "gone.x", "value": 2}]))
    code = run.main(["--bench-dir", str(bench_dir), "--results", str(results), "--duration", "0.5"])
    captured = capfd.readouterr()
    assert code == 1
    assert "SUMMARY broken: CRASHED (exit 1)" in captured.out
    assert "RuntimeError: boom" in captured.err
    assert "SUMMARY fake: 2 figures, 1 MISSED: fake.p95" in captured.out  # the others still ran
    data = json.loads(results.read_text())
    assert [e for e in data if e["benchmark"] == "broken"] == previous
    assert not [e for e in data if e["benchmark"] == "gone"]  # a full run forgets removed benchmarks
    assert {e["name"] for e in data if e["benchmark"] == "fake"} == {"fake.throughput", "fake.p95"}


def test_unknown_benchmark_is_a_usage_error(bench_dir, tmp_path, capfd):
    assert run.main(["nope", "--bench-dir", str(bench_dir), "--results", str(tmp_path / "r.json")]) == 2
    assert "no benchmark named nope" in capfd.readouterr().err


def test_discovery_reads_name_without_importing(bench_dir):
    assert run.discover(bench_dir) == {"broken": bench_dir / "bench_broken.py", "fake": bench_dir / "bench_fake.py"}
    assert "catalog" in run.discover(harness.BENCH_DIR)
