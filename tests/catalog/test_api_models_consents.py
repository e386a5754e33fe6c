import datetime as dt

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog import services
from apps.catalog.models import Asset, ConsentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def consent(project, actor_context, reference_data):
    return services.create_consent({"project": project, "reference": "ETH-1", "legal_basis": "consent",
                                    "purposes": ["research.medical"], "jurisdiction_scope": ["EU"],
                                    "valid_until": timezone.now() + dt.timedelta(days=10)})


def test_register_base_model_and_fine_tune_with_training_data(api, member, make_dataset):
    ds = make_dataset(name="corpus")
    client = api.as_user(member)
    base = client.post("/api/v1/models/", {"project": "health", "namespace": "s3://models", "name": "base-8b"}, format="json")
    assert base.status_code == 201, base.content
    assert base.json()["kind"] == "model"
    ft = client.post("/api/v1/models/", {"project": "health", "namespace": "s3://models", "name": "ft-8b",
                                         "base_model": base.json()["id"], "training_datasets": [ds.pk]}, format="json")
    assert ft.status_code == 201, ft.content
    assert ft.json()["kind"] == "fine_tune"
    assert ft.json()["training_datasets"] == [ds.pk]
    assert Asset.objects.get(pk=ft.json()["id"]).base_model_id == base.json()["id"]
    # the model list includes fine-tunes; the dataset list does not include models
    assert {m["name"] for m in client.get("/api/v1/models/").json()["results"]} == {"base-8b", "ft-8b"}
    assert {d["name"] for d in client.get("/api/v1/datasets/").json()["results"]} == {"corpus"}
    # a dataset cannot be a base model; a model cannot be training data
    bad = client.post("/api/v1/models/", {"project": "health", "namespace": "s3://models", "name": "bad",
                                          "base_model": ds.pk}, format="json")
    assert bad.status_code == 400 and "base_model" in bad.json()["error"]["fields"]
    bad = client.post("/api/v1/models/", {"project": "health", "namespace": "s3://models", "name": "bad2",
                                          "base_model": base.json()["id"], "training_datasets": [base.json()["id"]]}, format="json")
    assert bad.status_code == 400 and "training_datasets" in bad.json()["error"]["fields"]


def test_dataset_used_for_training_cannot_be_deleted(api, owner, member, make_dataset):
    ds = make_dataset()
    base = services.create_asset("model", {"project": ds.project, "namespace": "s3://m", "name": "b"})
    services.create_asset("fine_tune", {"project": ds.project, "namespace": "s3://m", "name": "f", "base_model": base},
                          training_datasets=[ds])
    r = api.as_user(owner).delete(f"/api/v1/datasets/{ds.pk}/")
    assert r.status_code == 400 and "training_datasets" in r.json()["error"]["fields"]
    assert Asset.objects.filter(pk=ds.pk).exists()


def test_model_query_count_is_constant(api, member, make_dataset):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User

    ds = make_dataset()
    base = services.create_asset("model", {"project": ds.project, "namespace": "s3://m", "name": "base"})

    def count(n):
        for i in range(n):
            services.create_asset("fine_tune", {"project": ds.project, "namespace": "s3://m", "name": f"ft{n}-{i}",
                                                "base_model": base}, training_datasets=[ds])
        client = api.as_user(User.objects.get(pk=member.pk))
        with CaptureQueriesContext(connection) as q:
            r = client.get(f"/api/v1/models/?page_size={n + 1}")
        assert r.status_code == 200
        return len(q.captured_queries)

    assert count(2) == count(25)


def test_consent_lifecycle_and_withdrawal(api, owner, consent):
    client = api.as_user(owner)
    r = client.get(f"/api/v1/consents/{consent.pk}/")
    assert r.status_code == 200 and r.json()["effective_status"] == "active"
    r = client.get("/api/v1/consents/?expiring_within_days=30")
    assert [c["reference"] for c in r.json()["results"]] == ["ETH-1"]
    r = client.post(f"/api/v1/consents/{consent.pk}/withdraw/", {"reason": ""}, format="json")
    assert r.status_code == 400 and "reason" in r.json()["error"]["fields"]
    r = client.post(f"/api/v1/consents/{consent.pk}/withdraw/", {"reason": "Data subject request #42"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["withdrawn_at"]
    assert AuditEvent.objects.filter(action="catalog.consentrecord.withdraw", object_id=str(consent.pk)).count() == 1
    r = client.patch(f"/api/v1/consents/{consent.pk}/", {"notes": "x"}, format="json")
    assert r.status_code == 400


def test_consent_validation(api, owner, reference_data):
    client = api.as_user(owner)
    base = {"project": "health", "reference": "R", "legal_basis": "consent", "purposes": ["research"]}
    assert client.post("/api/v1/consents/", {**base, "purposes": ["astrology"]}, format="json").json()["error"]["fields"]["purposes"]
    assert client.post("/api/v1/consents/", {**base, "purposes": []}, format="json").status_code == 400
    assert "legal_basis" in client.post("/api/v1/consents/", {**base, "legal_basis": "vibes"}, format="json").json()["error"]["fields"]
    now = timezone.now()
    r = client.post("/api/v1/consents/", {**base, "valid_from": now.isoformat(), "valid_until": (now - dt.timedelta(days=1)).isoformat()}, format="json")
    assert r.status_code == 400 and "valid_until" in r.json()["error"]["fields"]
    assert ConsentRecord.objects.count() == 0


def test_effective_status_expired_and_pending(consent):
    assert consent.effective_status(consent.valid_until + dt.timedelta(seconds=1)) == "expired"
    assert consent.effective_status(consent.valid_from - dt.timedelta(days=1)) == "pending"


def test_asset_cannot_use_another_projects_consent(api, owner, outsider, other_project, reference_data, actor_context):
    foreign = services.create_consent({"project": other_project, "reference": "F", "legal_basis": "contract", "purposes": ["fraud_detection"]})
    r = api.as_user(owner).post("/api/v1/datasets/", {"project": "health", "namespace": "s3://x", "name": "y", "consent": foreign.pk}, format="json")
    assert r.status_code == 400 and "consent" in r.json()["error"]["fields"]


def test_purpose_hierarchy_and_jurisdiction_blocs(api, owner, reference_data):
    from apps.catalog.models.jurisdictions import expand_codes
    from apps.catalog.models.purposes import purposes_cover

    assert purposes_cover(["research"], "research.medical")
    assert not purposes_cover(["research.medical"], "research")
    assert not purposes_cover(["research"], "researchers")
    assert "DE" in expand_codes(["EU"]) and "US" not in expand_codes(["EU"])
    r = api.as_user(owner).get("/api/v1/purposes/?under=research")
    assert {p["code"] for p in r.json()["results"]} == {"research", "research.medical", "research.scientific"}


def test_only_org_roles_change_reference_data(api, owner, compliance, reference_data):
    r = api.as_user(owner).post("/api/v1/namespace-rules/", {"pattern": "s3://x-*", "jurisdiction": "DE"}, format="json")
    assert r.status_code == 403
    r = api.as_user(compliance).post("/api/v1/namespace-rules/", {"pattern": "s3://x-*", "jurisdiction": "DE",
                                                                  "processing_jurisdictions": ["de", "fr"]}, format="json")
    assert r.status_code == 201 and r.json()["processing_jurisdictions"] == ["DE", "FR"]
    r = api.as_user(owner).post("/api/v1/namespace-rules/resolve/", {"namespace": "s3://x-lake", "name": "t"}, format="json")
    assert r.json() == {"residency": "known", "rule": "s3://x-*", "storage_jurisdiction": "DE", "processing_jurisdictions": ["DE", "FR"]}
    r = api.post("/api/v1/namespace-rules/resolve/", {"namespace": "gs://elsewhere"}, format="json")
    assert r.json()["residency"] == "unknown"
