"""Jobs over the REST API: 202 at once, idempotent retries, field errors, isolation, query counts,
long polling and human approval with separation of duties."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.jobs.models import Job, JobState
from tests.policy.fixtures import IMAGE, admit

pytestmark = pytest.mark.django_db


def body(asset, **extra):
    return {"kind": "training", "project": "health", "purpose": "research", "inputs": [{"asset": asset.pk}],
            "image": IMAGE, "gpus": 2, "estimated_hours": "10", "target_cluster": "any", **extra}


def test_submit_answers_202_with_the_job_and_queues_admission(api, pipeline, eu_dataset, clusters, django_capture_on_commit_callbacks):
    _account, token = pipeline
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.with_token(token).post("/api/v1/jobs", body(eu_dataset), format="json")
    assert response.status_code == 202, response.json()
    data = response.json()
    assert data["state"] == "submitted" and data["requested_by"] == "etl-pipeline" and data["target_cluster"] == "any"
    assert data["inputs"] == [{"asset": eu_dataset.pk, "name": "eu-patients", "namespace": "s3://charite-onco", "kind": "dataset",
                               "dataset_version": None, "role": "data"}]
    assert response["Location"] == f"/api/v1/jobs/{data['id']}"
    assert callbacks, "admission is queued only after the submission commits"


def test_idempotency_key_same_body_same_job_different_body_422(api, pipeline, eu_dataset, clusters):
    _account, token = pipeline
    client = api.with_token(token)
    first = client.post("/api/v1/jobs", body(eu_dataset), format="json", HTTP_IDEMPOTENCY_KEY="run-42")
    again = client.post("/api/v1/jobs", body(eu_dataset), format="json", HTTP_IDEMPOTENCY_KEY="run-42")
    assert first.status_code == 202 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and Job.objects.count() == 1
    other = client.post("/api/v1/jobs", body(eu_dataset, gpus=4), format="json", HTTP_IDEMPOTENCY_KEY="run-42")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused" and "Idempotency-Key" in other.json()["error"]["fields"]
    assert client.post("/api/v1/jobs", body(eu_dataset), format="json").status_code == 202  # no key: a new job
    assert Job.objects.count() == 2


@pytest.mark.parametrize("change, field", [
    ({"kind": "juggling"}, "kind"),
    ({"purpose": "world_domination"}, "purpose"),
    ({"inputs": []}, "inputs"),
    ({"inputs": [{"asset": 999999}]}, "inputs[0].asset"),
    ({"target_cluster": "moon-base"}, "target_cluster"),
    ({"gpus": 0}, "gpus"),
    ({"estimated_hours": "-1"}, "estimated_hours"),
    ({"serving_jurisdiction": "XX"}, "serving_jurisdiction"),
    ({"kind": "fine_tuning"}, "inputs"),
])
def test_bad_input_is_a_400_naming_the_field(api, pipeline, eu_dataset, clusters, change, field):
    _account, token = pipeline
    response = api.with_token(token).post("/api/v1/jobs", {**body(eu_dataset), **change}, format="json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert field in fields or field.replace("[0]", ".0") in fields, response.json()


def test_other_projects_assets_read_as_unknown_and_outsiders_cannot_submit(api, pipeline, outsider, other_project, clusters, eu_dataset):
    from apps.catalog import services

    foreign = services.create_asset("dataset", {"project": other_project, "namespace": "s3://bank", "name": "tx"})
    _account, token = pipeline
    response = api.with_token(token).post("/api/v1/jobs", body(foreign), format="json")
    assert response.status_code == 400 and "inputs.0.asset" in response.json()["error"]["fields"]
    response = api.as_user(outsider).post("/api/v1/jobs", body(eu_dataset), format="json")
    assert response.status_code in (400, 403)


def test_read_token_cannot_submit(api, member, project, eu_dataset, clusters):
    from apps.accounts import services

    account = services.create_service_account("reader", owner=member, project=project)
    _, raw = services.issue_token(account, name="ro", scope="read", expires_in_days=5)
    assert api.with_token(raw).post("/api/v1/jobs", body(eu_dataset), format="json").status_code == 403


def test_job_detail_has_the_decision_and_every_reason(api, pipeline, baseline, budget, eu_dataset, clusters, outsider):
    _account, token = pipeline
    job_id = api.with_token(token).post("/api/v1/jobs", body(eu_dataset, target_cluster="virginia-h100"), format="json").json()["id"]
    admit(Job.objects.get(pk=job_id))
    data = api.with_token(token).get(f"/api/v1/jobs/{job_id}").json()
    assert data["state"] == "denied"
    policies = {v["policy"] for v in data["decision"]["violations"]}
    assert {"residency", "classification"} <= policies
    assert all(v["asset"] == "eu-patients" for v in data["decision"]["violations"])
    assert data["decision"]["policy_set"] and data["decision"]["outcome"] == "deny"
    assert api.as_user(outsider).get(f"/api/v1/jobs/{job_id}").status_code == 404


def test_list_query_count_does_not_grow_with_jobs(api, member, submit, eu_dataset, make_dataset, clusters):
    submit([eu_dataset])
    client = api.as_user(member)
    client.get("/api/v1/jobs")
    with CaptureQueriesContext(connection) as small:
        assert client.get("/api/v1/jobs").status_code == 200
    for _ in range(6):
        submit([eu_dataset, make_dataset()])
    with CaptureQueriesContext(connection) as large:
        response = client.get("/api/v1/jobs?state=submitted")
    assert len(response.json()["results"]) == 7
    assert len(large) == len(small) <= 6, [q["sql"][:120] for q in large.captured_queries]


def test_wait_returns_after_the_timeout_when_nothing_changes(api, member, submit, eu_dataset, clusters):
    job = submit([eu_dataset])
    started = time.monotonic()
    response = api.as_user(member).get(f"/api/v1/jobs/{job.pk}?wait=0.6")
    assert response.status_code == 200 and response.json()["state"] == "submitted"
    assert 0.5 <= time.monotonic() - started < 5


@pytest.mark.parametrize("wait", ["soon", "-3"])
def test_wait_must_be_a_number(api, member, submit, eu_dataset, clusters, wait):
    job = submit([eu_dataset])
    response = api.as_user(member).get(f"/api/v1/jobs/{job.pk}?wait={wait}")
    assert response.status_code == 400 and "wait" in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_wait_wakes_up_when_the_state_changes(api, member, submit, eu_dataset, clusters):
    from apps.core import context
    from apps.jobs.services import transition

    job = submit([eu_dataset])

    def later():
        time.sleep(0.5)
        with context.acting_as(context.SYSTEM):
            transition(job.pk, JobState.SUBMITTED, JobState.CANCELLED, "test")

    thread = threading.Thread(target=later)
    started = time.monotonic()
    thread.start()
    response = api.as_user(member).get(f"/api/v1/jobs/{job.pk}?wait=30")
    thread.join()
    assert response.json()["state"] == "cancelled"
    assert time.monotonic() - started < 10


def test_approval_needs_someone_other_than_the_requester_and_its_owner(api, pipeline, member, compliance, publish, budget,
                                                                      eu_dataset, clusters):
    publish("trusted_images", action="require_approval", params={"allowed_registries": ["registry.govhub.local"]})
    account, token = pipeline
    job_id = api.with_token(token).post("/api/v1/jobs", body(eu_dataset, image="docker.io/x/y:latest"), format="json").json()["id"]
    job = admit(Job.objects.get(pk=job_id))
    assert job.state == "awaiting_approval", job.state_reason
    # The pipeline's owner (member) may not approve; without the permission the answer is 403 anyway.
    assert api.as_user(member).post(f"/api/v1/jobs/{job_id}/approve", {}, format="json").status_code == 403
    from apps.accounts import services as accounts

    accounts.set_membership(member, job.project, "data_steward")
    from apps.core.sod import SeparationOfDutiesError
    from apps.jobs import services

    with pytest.raises(SeparationOfDutiesError):
        services.approve_job(job, member)
    response = api.as_user(compliance).post(f"/api/v1/jobs/{job_id}/approve", {"note": "one-off image"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "approved" and response.json()["approved_by"] == "clara"
    assert api.as_user(compliance).post(f"/api/v1/jobs/{job_id}/approve", {}, format="json").status_code == 400


def test_cancel_and_resubmit(api, pipeline, baseline, budget, eu_dataset, clusters, django_capture_on_commit_callbacks):
    _account, token = pipeline
    client = api.with_token(token)
    job_id = client.post("/api/v1/jobs", body(eu_dataset, target_cluster="virginia-h100"), format="json").json()["id"]
    admit(Job.objects.get(pk=job_id))
    assert client.post(f"/api/v1/jobs/{job_id}/cancel", {}, format="json").status_code == 400  # denied: nothing to cancel
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(f"/api/v1/jobs/{job_id}/resubmit", format="json")
    assert response.status_code == 202 and response.json()["state"] == "evaluating"
    job = admit(Job.objects.get(pk=job_id))
    assert job.state == "denied" and job.decisions.count() == 2
    other = client.post("/api/v1/jobs", body(eu_dataset), format="json").json()["id"]
    assert client.post(f"/api/v1/jobs/{other}/cancel", {"note": "wrong data"}, format="json").json()["state"] == "cancelled"
