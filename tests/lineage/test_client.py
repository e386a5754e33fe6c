"""The official openlineage-python client (HttpTransport, api_key auth, gzip) against a live govhub."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests

from apps.catalog.models import Asset
from apps.lineage.models import Run

pytestmark = pytest.mark.django_db(transaction=True)


def make_client(url: str, token: str, **extra):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    config = HttpConfig.from_dict({"type": "http", "url": url, "auth": {"type": "api_key", "apiKey": token}, **extra})
    return OpenLineageClient(transport=HttpTransport(config))


def test_official_client_start_and_complete_then_read_the_edges_back(live_server, reference_data, pipeline):
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, RunEvent, RunState
    from openlineage.client.event_v2 import Run as OLRun
    from openlineage.client.facet_v2 import schema_dataset

    _, token = pipeline
    client = make_client(live_server.url, token)
    gzip_client = make_client(live_server.url, token, compression="gzip")
    run_id = str(uuid.uuid4())
    job = Job(namespace="airflow-prod", name="features.build_patient_features")
    inputs = [InputDataset(namespace="s3://lake", name="raw.patients",
                           facets={"schema": schema_dataset.SchemaDatasetFacet(fields=[schema_dataset.SchemaDatasetFacetFields(name="id", type="BIGINT")])}),
              InputDataset(namespace="s3://lake", name="raw.visits")]
    outputs = [OutputDataset(namespace="s3://lake", name="features.patient_features")]
    started = dt.datetime.now(dt.UTC)
    client.emit(RunEvent(eventType=RunState.START, eventTime=started.isoformat(), run=OLRun(runId=run_id), job=job,
                         inputs=inputs, outputs=outputs, producer="https://example.com/pipelines/features"))
    gzip_client.emit(RunEvent(eventType=RunState.COMPLETE, eventTime=(started + dt.timedelta(seconds=42)).isoformat(),
                              run=OLRun(runId=run_id), job=job, inputs=inputs, outputs=outputs,
                              producer="https://example.com/pipelines/features"))

    run = Run.objects.get(run_uuid=run_id)
    assert run.state == "COMPLETED" and list(run.transitions.values_list("event_type", flat=True)) == ["START", "COMPLETE"]
    out = Asset.objects.get(namespace="s3://lake", name="features.patient_features")
    response = requests.get(f"{live_server.url}/api/v1/lineage/graph", headers={"Authorization": f"Bearer {token}"},
                            params={"node": f"asset:{out.pk}", "direction": "upstream", "depth": 2}, timeout=10)
    assert response.status_code == 200
    body = response.json()
    by_name = {n["name"]: n for n in body["nodes"]}
    assert set(by_name) == {"features.build_patient_features", "raw.patients", "raw.visits"}
    job_id = by_name["features.build_patient_features"]["id"]
    edges = {(e["source"], e["target"]) for e in body["edges"]}
    assert edges == {(by_name["raw.patients"]["id"], job_id), (by_name["raw.visits"]["id"], job_id), (job_id, f"asset:{out.pk}")}
    runs = requests.get(f"{live_server.url}/api/v1/lineage/jobs/{job_id.split(':')[1]}/runs/", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).json()["results"]
    assert [(r["run_id"], r["state"]) for r in runs] == [(run_id, "COMPLETED")]


def test_the_client_raises_on_an_invalid_token(live_server, reference_data, pipeline):
    from openlineage.client.event_v2 import Job, RunEvent, RunState
    from openlineage.client.event_v2 import Run as OLRun

    client = make_client(live_server.url, "ghb_000000000000_" + "x" * 43, retry={"total": 0})
    with pytest.raises(requests.HTTPError):
        client.emit(RunEvent(eventType=RunState.START, eventTime=dt.datetime.now(dt.UTC).isoformat(),
                             run=OLRun(runId=str(uuid.uuid4())), job=Job(namespace="n", name="j"), producer="https://example.com"))


def test_concurrent_senders_share_new_datasets_and_repeats(live_server, reference_data, pipeline):
    """Four senders at once, the same new datasets and some of the same events: every event is
    stored once, every dataset registered once, nothing fails."""
    import threading

    from apps.lineage.models import RawEvent
    from tests.lineage.conftest import ds, run_event

    _, token = pipeline
    shared = [run_event(f"shared.{i}", [ds("s3://race", f"in-{i % 5}")], [ds("s3://race", f"out-{i % 5}")]) for i in range(10)]
    results: list[tuple[int, int]] = []

    def send(n: int) -> None:
        own = [run_event(f"own.{n}.{i}", [ds("s3://race", f"in-{i % 5}")], [ds("s3://race", "common")]) for i in range(10)]
        response = requests.post(f"{live_server.url}/api/v1/lineage/batch", json=shared + own, timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})
        results.append((response.status_code, response.json()["summary"]["failed"]))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [(200, 0)] * 4
    assert RawEvent.objects.count() == 10 + 4 * 10
    assert Asset.objects.filter(namespace="s3://race").count() == 11
