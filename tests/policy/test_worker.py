"""A job submitted over the API is judged by a real Celery worker and ends denied or approved with
its reasons (transactional test: the worker is another process reading committed rows)."""

from __future__ import annotations

import pytest

from apps.jobs.models import Job
from tests.policy.fixtures import IMAGE
from tests.utils import wait_for


@pytest.fixture
def live_worker(live_worker, policy_reference):
    return live_worker

@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_decides_jobs_submitted_over_the_api(live_worker, api, pipeline, baseline, clusters, budget, eu_dataset):
    _account, token = pipeline
    client = api.with_token(token)
    base = {"kind": "training", "project": "health", "purpose": "research", "inputs": [{"asset": eu_dataset.pk}],
            "image": IMAGE, "gpus": 2, "estimated_hours": "5"}
    good = client.post("/api/v1/jobs", {**base, "target_cluster": "any"}, format="json", HTTP_IDEMPOTENCY_KEY="w-1")
    bad = client.post("/api/v1/jobs", {**base, "target_cluster": "virginia-h100"}, format="json")
    assert good.status_code == bad.status_code == 202
    wait_for(lambda: Job.objects.filter(pk__in=[good.json()["id"], bad.json()["id"]], last_decision__isnull=False).count() == 2,
             timeout=60, what="the worker to decide both jobs")
    approved = client.get(f"/api/v1/jobs/{good.json()['id']}?wait=1").json()
    denied = client.get(f"/api/v1/jobs/{bad.json()['id']}").json()
    # Approved, then (the dispatch capability hooks "approved") possibly already on its way to the cluster.
    states = [t.to_state for t in Job.objects.get(pk=approved["id"]).transitions.all()]
    assert states[:2] == ["evaluating", "approved"] and approved["cluster"] == "paris-a100", approved
    assert approved["decision"]["outcome"] == "allow" and approved["estimated_cost"] == "18.00"
    assert {r["cluster"] for r in approved["decision"]["rejected_clusters"]} == {"fra-h100", "tokyo-h100", "virginia-h100"}
    assert denied["state"] == "denied"
    assert {v["policy"] for v in denied["decision"]["violations"]} == {"residency", "classification"}
    assert all(v["asset"] == "eu-patients" for v in denied["decision"]["violations"])
    job = Job.objects.get(pk=bad.json()["id"])
    assert [t.to_state for t in job.transitions.all()] == ["evaluating", "denied"]
    assert job.transitions.last().actor_label == "system:evaluate_job"
