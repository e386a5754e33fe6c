"""Ingestion: the HTTP contract, idempotency, runs and their states, project scoping, audit."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid

import pytest

from apps.audit.models import AuditEvent
from apps.catalog.models import Asset
from apps.lineage.models import Edge, Job, RawEvent, Run, RunIO, RunTransition
from tests.lineage.conftest import ds, facet, run_event

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def counts() -> tuple[int, ...]:
    return (RawEvent.objects.count(), Job.objects.count(), Run.objects.count(), RunTransition.objects.count(),
            RunIO.objects.count(), Edge.objects.count(), Asset.objects.count())


def test_run_event_builds_jobs_runs_edges_and_catalog_assets(post_event, project):
    event = run_event("etl.build", [ds("s3://lake", "raw.a"), ds("s3://lake", "raw.b")], [ds("s3://lake", "clean.c")], when=T0)
    response = post_event(event)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "created" and body["project"] == "health"
    raw = RawEvent.objects.get(pk=body["id"])
    assert raw.payload == event and raw.kind == "run" and raw.event_type == "COMPLETE" and raw.project == project
    job = Job.objects.get(namespace="airflow", name="etl.build")
    assert job.project == project
    run = Run.objects.get(job=job)
    assert str(run.run_uuid) == event["run"]["runId"] and run.state == "COMPLETED" and run.ended_at == T0
    a, b, c = (Asset.objects.get(namespace="s3://lake", name=n) for n in ("raw.a", "raw.b", "clean.c"))
    assert {x.project_id for x in (a, b, c)} == {project.pk} and a.kind == "dataset"
    assert a.residency_source == "unknown" and a.storage_jurisdiction_id is None  # no namespace rule: unknown, never a default
    assert set(Edge.objects.values_list("src", "dst")) == {(a.pk, -job.pk), (b.pk, -job.pk), (-job.pk, c.pk)}
    assert set(RunIO.objects.values_list("asset_id", "direction")) == {(a.pk, "in"), (b.pk, "in"), (c.pk, "out")}


def test_reposting_the_same_event_changes_nothing(post_event):
    event = run_event("etl.build", [ds("s3://lake", "raw.a")], [ds("s3://lake", "clean.c")])
    first = post_event(event)
    before, audits = counts(), AuditEvent.objects.count()
    again = post_event(json.loads(json.dumps(event, sort_keys=True)))  # same canonical event, other key order
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["status"] == "duplicate" and again.json()["id"] == first.json()["id"]
    assert counts() == before and AuditEvent.objects.count() == audits


def test_gzip_body_is_accepted(lineage_api):
    event = run_event("etl.gz", [ds("s3://lake", "raw.gz")], [])
    body = gzip.compress(json.dumps(event).encode())
    response = lineage_api.generic("POST", "/api/v1/lineage", body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 201, response.content
    assert RawEvent.objects.get(pk=response.json()["id"]).payload == event


def test_bad_gzip_and_bad_json_are_400_in_the_error_shape(lineage_api):
    r1 = lineage_api.generic("POST", "/api/v1/lineage", b"not gzip", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    r2 = lineage_api.generic("POST", "/api/v1/lineage", b"{nope", content_type="application/json")
    for r in (r1, r2):
        assert r.status_code == 400 and r.json()["error"]["status"] == 400
    assert RawEvent.objects.count() == 0


def test_invalid_event_is_rejected_with_field_paths_and_nothing_stored(post_event):
    event = run_event("etl.bad", [ds("s3://lake", "raw.a")], [{"namespace": "s3://lake"}])
    event["run"]["runId"] = "not-a-uuid"
    event["eventTime"] = "yesterday"
    event["job"]["facets"]["documentation"] = {"description": "no producer"}
    before = counts()
    response = post_event(event)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) >= {"run.runId", "eventTime", "outputs[0].name", "job.facets.documentation._producer",
                                     "job.facets.documentation._schemaURL"}
    assert error["detail"].split(":")[0] in error["fields"]
    assert counts() == before


def test_run_states_follow_event_time_not_arrival_order(post_event):
    run_id = str(uuid.uuid4())
    complete = run_event("etl.order", [], [ds("s3://lake", "out")], event_type="COMPLETE", run_id=run_id, when=T0 + dt.timedelta(minutes=5))
    start = run_event("etl.order", [], [ds("s3://lake", "out")], event_type="START", run_id=run_id, when=T0)
    assert post_event(complete).status_code == 201
    assert post_event(start).status_code == 201
    run = Run.objects.get(run_uuid=run_id)
    assert run.state == "COMPLETED" and run.started_at == T0 and run.ended_at == T0 + dt.timedelta(minutes=5)
    assert list(run.transitions.values_list("event_type", flat=True)) == ["START", "COMPLETE"]
    fail = run_event("etl.order", [], [], event_type="FAIL", run_id=run_id, when=T0 + dt.timedelta(minutes=6),
                     run={"runId": run_id, "facets": {"errorMessage": facet(message="boom", programmingLanguage="python")}})
    assert post_event(fail).status_code == 201
    run.refresh_from_db()
    assert run.state == "FAILED" and run.error_message == "boom"


def test_parent_and_nominal_time_facets(post_event):
    parent = str(uuid.uuid4())
    event = run_event("dag.task", [], [], event_type="START", when=T0)
    event["run"]["facets"] = {
        "parent": facet(run={"runId": parent}, job={"namespace": "airflow", "name": "dag"}),
        "nominalTime": facet(nominalStartTime="2026-03-01T00:00:00Z", nominalEndTime="2026-03-02T00:00:00Z"),
    }
    assert post_event(event).status_code == 201
    run = Run.objects.get()
    assert str(run.parent_run_uuid) == parent and run.parent_job == "airflow/dag" and run.state == "RUNNING"
    assert run.nominal_start == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_job_and_dataset_events(post_event):
    job_event = {"eventTime": T0.isoformat(), "producer": "https://example.com/dbt", "job": {"namespace": "dbt", "name": "model.orders"},
                 "inputs": [ds("pg://warehouse", "raw.orders")], "outputs": [ds("pg://warehouse", "mart.orders")],
                 "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"}
    dataset_event = {"eventTime": T0.isoformat(), "producer": "https://example.com/catalog",
                     "dataset": ds("pg://warehouse", "mart.orders", documentation={"description": "Orders per day."}),
                     "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent"}
    assert post_event(job_event).status_code == 201
    assert post_event(dataset_event).status_code == 201
    job = Job.objects.get(name="model.orders")
    assert not Run.objects.exists()
    mart = Asset.objects.get(name="mart.orders")
    assert Edge.objects.filter(src=-job.pk, dst=mart.pk).exists()
    assert mart.description == "Orders per day."
    assert set(RawEvent.objects.values_list("kind", flat=True)) == {"job", "dataset"}


def test_token_writes_into_its_project_and_read_tokens_cannot_write(api, pipeline, member, project, other_project, reference_data):
    from apps.accounts import services

    account, raw = pipeline
    _, read_raw = services.issue_token(account, name="ro", scope="read", expires_in_days=5)
    event = run_event("etl.scope", [ds("s3://lake", "raw.scope")], [])
    assert api.with_token(read_raw).post("/api/v1/lineage", event, format="json").status_code == 403
    wrong = api.with_token(raw).post("/api/v1/lineage?project=bank", event, format="json")
    assert wrong.status_code == 400 and "project" in wrong.json()["error"]["fields"]
    assert api.with_token(raw).post("/api/v1/lineage", event, format="json").status_code == 201
    assert Asset.objects.get(name="raw.scope").project == project


def test_people_name_the_project_and_need_the_role(api, owner, outsider, auditor, project, reference_data):
    event = run_event("notebook", [ds("s3://lake", "raw.person")], [])
    assert api.as_user(owner).post("/api/v1/lineage", event, format="json").status_code == 400  # which project?
    assert api.as_user(outsider).post("/api/v1/lineage?project=health", event, format="json").status_code == 404
    assert api.as_user(auditor).post("/api/v1/lineage?project=health", event, format="json").status_code == 403
    assert api.as_user(owner).post("/api/v1/lineage?project=health", event, format="json").status_code == 201
    api.force_authenticate(user=None)
    assert api.post("/api/v1/lineage?project=health", run_event("anon", [], []), format="json").status_code in (401, 403)


def test_every_ingestion_is_audited_once(post_event, lineage_api, project):
    before = AuditEvent.objects.filter(action__startswith="lineage.").count()
    post_event(run_event("etl.audit", [ds("s3://lake", "raw.audit")], []))
    events = [run_event("etl.audit", [ds("s3://lake", f"raw.{i}")], []) for i in range(3)]
    lineage_api.post("/api/v1/lineage/batch", events, format="json")
    audits = AuditEvent.objects.filter(action__startswith="lineage.").order_by("id")
    assert audits.count() == before + 2
    single, batch = audits[before], audits[before + 1]
    assert single.action == "lineage.event.ingest" and single.project_id == project.pk and single.extra["job"] == "airflow/etl.audit"
    assert batch.action == "lineage.batch.ingest" and batch.extra["events"] == 3


def test_batch_keeps_good_events_and_reports_bad_ones(lineage_api):
    good = run_event("etl.batch", [ds("s3://lake", "raw.good")], [ds("s3://lake", "out.good")])
    bad_run = run_event("etl.batch", [], [])
    del bad_run["run"]["runId"]
    bad_name = run_event("etl.batch", [ds("s3://lake", "x" * 501)], [])
    response = lineage_api.post("/api/v1/lineage/batch", [good, bad_run, good, bad_name, "nope"], format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "partial_success"
    assert body["summary"] == {"received": 5, "successful": 2, "failed": 3, "retriable": 0, "non_retriable": 3,
                               "created": 1, "duplicates": 1}
    failed = {f["index"]: f for f in body["failed_events"]}
    assert set(failed) == {1, 3, 4}
    assert "run.runId" in failed[1]["reason"] and failed[1]["retriable"] is False
    assert "inputs[0].name" in failed[3]["fields"]
    assert RawEvent.objects.count() == 1 and not Asset.objects.filter(name="x" * 501).exists()


def test_batch_success_and_shape_errors(lineage_api):
    ok = lineage_api.post("/api/v1/lineage/batch", [run_event("etl.ok", [], [])], format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "success" and ok.json()["failed_events"] == []
    not_list = lineage_api.post("/api/v1/lineage/batch", {"eventType": "START"}, format="json")
    assert not_list.status_code == 400
    array_to_single = lineage_api.post("/api/v1/lineage", [run_event("etl.ok", [], [])], format="json")
    assert array_to_single.status_code == 400
    assert lineage_api.post("/api/v1/lineage/batch", [], format="json").json()["summary"]["received"] == 0


def test_trailing_slash_is_optional(lineage_api):
    assert lineage_api.post("/api/v1/lineage/", run_event("etl.slash", [], []), format="json").status_code == 201
    assert lineage_api.post("/api/v1/lineage/batch/", [run_event("etl.slash", [], [])], format="json").status_code == 200
