"""The graph API: upstream, downstream, both; depth, pages, cycles; runs, jobs, columns; impact;
visibility; constant query counts for the lists."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog import services as catalog
from apps.catalog.models import Asset
from apps.lineage.models import Job
from tests.lineage.conftest import ds, run_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(post_event):
    """raw1, raw2 → A → mid → B → out1, out2; C reads out1 and writes raw1 (a cycle)."""
    run_a = str(uuid.uuid4())
    assert post_event(run_event("A", [ds("s3://l", "raw1"), ds("s3://l", "raw2")], [ds("s3://l", "mid")], run_id=run_a)).status_code == 201
    assert post_event(run_event("B", [ds("s3://l", "mid")], [ds("s3://l", "out1"), ds("s3://l", "out2")])).status_code == 201
    assert post_event(run_event("C", [ds("s3://l", "out1")], [ds("s3://l", "raw1")])).status_code == 201
    names = {a.name: a for a in Asset.objects.all()}
    jobs = {j.name: j for j in Job.objects.all()}
    return names, jobs, run_a


def graph(api, node, **params):
    response = api.get("/api/v1/lineage/graph", {"node": node, **params})
    assert response.status_code == 200, response.json()
    return response.json()


def ids(body):
    return {n["id"]: n["depth"] for n in body["nodes"]}


def test_downstream_with_depth_limit_and_cycle(lineage_api, chain):
    a, j, _ = chain
    two = graph(lineage_api, f"asset:{a['raw1'].pk}", direction="downstream", depth=2)
    assert ids(two) == {f"job:{j['A'].pk}": 1, f"asset:{a['mid'].pk}": 2} and two["truncated"] is True
    deep = graph(lineage_api, f"asset:{a['raw1'].pk}", direction="downstream", depth=20)
    # Around the cycle and back: raw1 itself is never listed again, every node once, at its shortest depth.
    assert ids(deep) == {f"job:{j['A'].pk}": 1, f"asset:{a['mid'].pk}": 2, f"job:{j['B'].pk}": 3, f"asset:{a['out1'].pk}": 4,
                         f"asset:{a['out2'].pk}": 4, f"job:{j['C'].pk}": 5}
    assert deep["truncated"] is False and deep["root"]["id"] == f"asset:{a['raw1'].pk}"
    edges = {(e["source"], e["target"]) for e in deep["edges"]}
    assert (f"job:{j['C'].pk}", f"asset:{a['raw1'].pk}") in edges  # the edge back to the root closes the cycle
    assert (f"asset:{a['raw1'].pk}", f"job:{j['A'].pk}") in edges


def test_upstream_and_both(lineage_api, chain):
    a, j, _ = chain
    up = graph(lineage_api, f"asset:{a['mid'].pk}", direction="upstream", depth=2)
    assert ids(up) == {f"job:{j['A'].pk}": 1, f"asset:{a['raw1'].pk}": 2, f"asset:{a['raw2'].pk}": 2}
    assert {n["direction"] for n in up["nodes"]} == {"upstream"}
    both = graph(lineage_api, f"asset:{a['mid'].pk}", direction="both", depth=1)
    assert {(n["id"], n["direction"]) for n in both["nodes"]} == {(f"job:{j['A'].pk}", "upstream"), (f"job:{j['B'].pk}", "downstream")}


def test_nodes_carry_residency_kind_and_links(lineage_api, chain):
    a, _, _ = chain
    body = graph(lineage_api, f"asset:{a['raw1'].pk}", direction="downstream", depth=2)
    mid = next(n for n in body["nodes"] if n["id"] == f"asset:{a['mid'].pk}")
    assert mid["kind"] == "dataset" and mid["residency"] == {"storage": None, "processing": [], "source": "unknown", "known": False}
    assert mid["url"] == f"/assets/{a['mid'].pk}/" and mid["project"] == "health"


def test_pages(lineage_api, chain):
    a, _, _ = chain
    first = graph(lineage_api, f"asset:{a['raw1'].pk}", direction="downstream", depth=20, limit=4)
    second = graph(lineage_api, f"asset:{a['raw1'].pk}", direction="downstream", depth=20, limit=4, offset=first["next_offset"])
    assert first["count"] == 6 and len(first["nodes"]) == 4 and first["next_offset"] == 4
    assert len(second["nodes"]) == 2 and second["next_offset"] is None
    assert not set(ids(first)) & set(ids(second))
    assert [n["depth"] for n in first["nodes"] + second["nodes"]] == sorted(n["depth"] for n in first["nodes"] + second["nodes"])


def test_job_and_run_roots(lineage_api, chain):
    a, j, run_a = chain
    job = graph(lineage_api, f"job:{j['A'].pk}", direction="both", depth=1)
    assert set(ids(job)) == {f"asset:{a['raw1'].pk}", f"asset:{a['raw2'].pk}", f"asset:{a['mid'].pk}"}
    run = graph(lineage_api, f"run:{run_a}", direction="downstream", depth=3)
    assert run["root"]["type"] == "run" and run["root"]["state"] == "COMPLETED"
    assert ids(run) == {f"asset:{a['mid'].pk}": 1, f"job:{j['B'].pk}": 2, f"asset:{a['out1'].pk}": 3, f"asset:{a['out2'].pk}": 3}
    assert {"source": f"run:{run_a}", "target": f"asset:{a['mid'].pk}", "kind": "run_output"} in run["edges"]


def test_bad_nodes_and_parameters(lineage_api, chain):
    a, _, _ = chain
    assert lineage_api.get("/api/v1/lineage/graph", {"node": "nope:1"}).status_code == 400
    assert lineage_api.get("/api/v1/lineage/graph", {"node": "asset:999999"}).status_code == 404
    assert lineage_api.get("/api/v1/lineage/graph", {"node": f"asset:{a['raw1'].pk}", "depth": 0}).status_code == 400
    assert lineage_api.get("/api/v1/lineage/graph", {"node": f"asset:{a['raw1'].pk}", "direction": "sideways"}).status_code == 400
    assert lineage_api.get("/api/v1/lineage/graph", {"node": f"run:{uuid.uuid4()}"}).status_code == 404


def test_catalog_lineage_counts(api, owner, project, make_dataset, actor_context):
    corpus = make_dataset(name="corpus")
    base = catalog.create_asset("model", {"project": project, "namespace": "s3://m", "name": "base"})
    tuned = catalog.create_asset("fine_tune", {"project": project, "namespace": "s3://m", "name": "tuned", "base_model": base},
                                 training_datasets=[corpus])
    body = graph(api.as_user(owner), f"asset:{tuned.pk}", direction="upstream", depth=1)
    assert ids(body) == {f"asset:{corpus.pk}": 1, f"asset:{base.pk}": 1}
    assert {(e["source"], e["kind"]) for e in body["edges"]} == {(f"asset:{corpus.pk}", "training"), (f"asset:{base.pk}", "base_model")}


def test_hidden_nodes_are_left_out_and_bridged(api, post_event, outsider, owner, other_project, actor_context, reference_data):
    """health writes x → J1 → bank's ledger → J2 → y: health's users see x, J1, J2, y, never the ledger."""
    catalog.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "ledger"})
    post_event(run_event("J1", [ds("s3://l", "x")], [ds("s3://bank", "ledger")]))
    post_event(run_event("J2", [ds("s3://bank", "ledger")], [ds("s3://l", "y")]))
    x, y = Asset.objects.get(name="x"), Asset.objects.get(name="y")
    j1, j2 = Job.objects.get(name="J1"), Job.objects.get(name="J2")
    body = graph(api.as_user(owner), f"asset:{x.pk}", direction="downstream", depth=10)
    assert set(ids(body)) == {f"job:{j1.pk}", f"job:{j2.pk}", f"asset:{y.pk}"}
    assert "ledger" not in str(body)
    assert {"source": f"job:{j1.pk}", "target": f"job:{j2.pk}", "kind": "indirect"} in body["edges"]
    # The bank's steward sees the ledger but not health's assets or jobs.
    ledger = Asset.objects.get(name="ledger")
    theirs = graph(api.as_user(outsider), f"asset:{ledger.pk}", direction="both", depth=10)
    assert theirs["nodes"] == [] and theirs["edges"] == []
    assert api.as_user(outsider).get("/api/v1/lineage/graph", {"node": f"asset:{x.pk}"}).status_code == 404


def test_impact_groups_everything_downstream(lineage_api, post_event, project):
    model = {"datasetType": {"datasetType": "MODEL"}}
    post_event(run_event("prep", [ds("s3://l", "src")], [ds("s3://l", "features")]))
    post_event(run_event("train", [ds("s3://l", "features"), ds("s3://m", "base", **model)], [ds("s3://m", "tuned", **model)]))
    post_event(run_event("export", [ds("s3://m", "tuned", **model)], [ds("s3://m", "tuned.onnx", **model)]))
    src = Asset.objects.get(name="src")
    body = lineage_api.get(f"/api/v1/lineage/impact/{src.pk}").json()
    assert [d["name"] for d in body["datasets"]] == ["features"]
    assert [m["name"] for m in body["fine_tunes"]] == ["tuned"] and [m["name"] for m in body["models"]] == ["tuned.onnx"]
    assert sorted(jb["name"] for jb in body["jobs"]) == ["export", "prep", "train"]
    assert body["counts"] == {"datasets": 1, "models": 1, "fine_tunes": 1, "jobs": 3}


def test_column_graph(lineage_api, post_event):
    cl = {"fields": {"b": {"inputFields": [{"namespace": "s3://l", "name": "t1", "field": "a"}]}}}
    cl2 = {"fields": {"c": {"inputFields": [{"namespace": "s3://l", "name": "t2", "field": "b"}]}}}
    post_event(run_event("j1", [ds("s3://l", "t1")], [ds("s3://l", "t2", columnLineage=cl)]))
    post_event(run_event("j2", [ds("s3://l", "t2")], [ds("s3://l", "t3", columnLineage=cl2)]))
    from apps.lineage.models import DatasetField

    a = DatasetField.objects.get(asset__name="t1", name="a")
    body = graph(lineage_api, f"column:{a.pk}", direction="downstream", depth=5)
    assert [(n["asset_name"], n["name"], n["depth"]) for n in body["nodes"]] == [("t2", "b", 1), ("t3", "c", 2)]
    columns = lineage_api.get(f"/api/v1/lineage/assets/{Asset.objects.get(name='t2').pk}/columns").json()
    assert [(e["source"]["name"], e["target"]["name"]) for e in columns["upstream"]] == [("a", "b")]
    assert [(e["source"]["name"], e["target"]["name"]) for e in columns["downstream"]] == [("b", "c")]


@pytest.mark.parametrize("path", ["/api/v1/lineage/jobs/", "/api/v1/lineage/runs/", "/api/v1/lineage/events/"])
def test_list_endpoints_take_a_constant_number_of_queries(lineage_api, post_event, path):
    def measure() -> int:
        lineage_api.get(path)  # warm: token touch, caches
        with CaptureQueriesContext(connection) as ctx:
            response = lineage_api.get(path)
        assert response.status_code == 200 and response.json()["results"]
        return len(ctx)

    for i in range(2):
        post_event(run_event(f"job-{i}", [ds("s3://l", f"in-{i}")], []))
    few = measure()
    for i in range(2, 12):
        post_event(run_event(f"job-{i}", [ds("s3://l", f"in-{i}")], []))
    assert measure() == few <= 4


def test_job_runs_and_run_detail(lineage_api, chain):
    _, j, run_a = chain
    runs = lineage_api.get(f"/api/v1/lineage/jobs/{j['A'].pk}/runs/").json()["results"]
    assert [r["run_id"] for r in runs] == [run_a]
    detail = lineage_api.get(f"/api/v1/lineage/runs/{runs[0]['id']}/").json()
    assert detail["state"] == "COMPLETED" and [t["event_type"] for t in detail["transitions"]] == ["COMPLETE"]
    assert len(detail["inputs"]) == 2 and len(detail["outputs"]) == 1
    event = lineage_api.get(f"/api/v1/lineage/events/{detail['transitions'][0]['raw_event']}/").json()
    assert event["payload"]["run"]["runId"] == run_a


def test_a_run_root_hides_inputs_of_other_projects(api, owner, post_event, other_project, actor_context, reference_data):
    catalog.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "secret"})
    run_id = str(uuid.uuid4())
    post_event(run_event("mixed", [ds("s3://bank", "secret"), ds("s3://l", "mine")], [ds("s3://l", "out")], run_id=run_id))
    body = graph(api.as_user(owner), f"run:{run_id}", direction="both", depth=1)
    secret = Asset.objects.get(name="secret")
    assert f"asset:{secret.pk}" not in str(body)
    assert {e["kind"] for e in body["edges"]} == {"run_input", "run_output"}
