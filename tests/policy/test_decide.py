"""The gateway check /api/v1/decide: answered from cached effective constraints, invalidated when
what it depends on changes, never more permissive than the catalog."""

from __future__ import annotations

import time

import pytest

from apps.catalog import services as catalog
from apps.catalog.models import Jurisdiction
from apps.policy.services import decide as decide_mod
from apps.policy.services import reference

pytestmark = pytest.mark.django_db


@pytest.fixture
def served_model(baseline, project, make_dataset, consent, actor_context):
    data = make_dataset(name="triage-notes", storage_jurisdiction=Jurisdiction.objects.get(code="DE"),
                        processing_jurisdictions=["EU"], contains_pii=True, consent=consent("TRIAGE-1", purposes=["healthcare"]))
    base = catalog.create_asset("model", {"project": project, "namespace": "s3://m", "name": "base-8b",
                                          "storage_jurisdiction": Jurisdiction.objects.get(code="DE"), "processing_jurisdictions": ["EU"]})
    return catalog.create_asset("fine_tune", {"project": project, "namespace": "s3://m", "name": "triage-8b", "base_model": base,
                                              "storage_jurisdiction": Jurisdiction.objects.get(code="DE"),
                                              "processing_jurisdictions": ["EU"]}, training_datasets=[data])


def test_decide_allows_denies_and_names_the_reasons(api, member, compliance, served_model):
    client = api.as_user(member)
    url = f"/api/v1/decide?model={served_model.pk}&purpose=healthcare.diagnosis&jurisdiction=DE"
    answer = client.get(url).json()
    assert answer["allowed"] is False and any("no approved evaluation in de" in r for r in answer["reasons"])
    evaluation = reference.record_evaluation(member, {"model": served_model, "language": "de", "jurisdictions": ["DE", "AT"]})
    reference.decide_evaluation(evaluation, compliance, approve=True)
    answer = client.get(url).json()
    assert answer["allowed"] is True and answer["reasons"] == [], answer
    denied = client.post("/api/v1/decide", {"model": served_model.pk, "purpose": "marketing", "jurisdiction": "us"}, format="json").json()
    reasons = " ".join(denied["reasons"])
    assert denied["allowed"] is False and "only in EU" in reasons and "Purpose marketing is not allowed" in reasons
    assert "triage-notes" in reasons  # the upstream dataset that imposes it


def test_decide_is_cached_and_invalidated(member, compliance, served_model):
    decide_mod.clear_local()
    first = decide_mod.decide(served_model.pk, "healthcare", "DE")
    second = decide_mod.decide(served_model.pk, "healthcare", "DE")
    assert first["source"] == "database" and second["source"] == "memory"
    evaluation = reference.record_evaluation(member, {"model": served_model, "language": "de", "jurisdictions": ["EU"]})
    reference.decide_evaluation(evaluation, compliance, approve=True)  # bumps the serving generation
    third = decide_mod.decide(served_model.pk, "healthcare", "DE")
    assert third["source"] == "database" and third["allowed"]
    decide_mod.clear_local()
    assert decide_mod.decide(served_model.pk, "healthcare", "DE")["source"] == "redis"
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        decide_mod.decide(served_model.pk, "healthcare", "DE")
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[len(timings) // 2] < 0.01  # in-process, warm: well under 10 ms even on a busy test box


def test_decide_validates_and_hides_other_projects_models(api, outsider, member, served_model):
    assert api.as_user(outsider).get(f"/api/v1/decide?model={served_model.pk}&purpose=x&jurisdiction=DE").status_code == 404
    response = api.as_user(member).get("/api/v1/decide?model=abc&jurisdiction=DE")
    assert response.status_code == 400 and {"model", "purpose"} <= set(response.json()["error"]["fields"])


def test_a_read_token_may_ask(api, member, project, served_model):
    from apps.accounts import services as accounts

    account = accounts.create_service_account("gateway", owner=member, project=project)
    _, raw = accounts.issue_token(account, name="gw", scope="read", expires_in_days=5)
    response = api.with_token(raw).post("/api/v1/decide", {"model": served_model.pk, "purpose": "healthcare", "jurisdiction": "DE"},
                                        format="json")
    assert response.status_code == 200 and response.json()["allowed"] is False
