import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.catalog import services
from apps.catalog.models import Asset, NamespaceRule

pytestmark = pytest.mark.django_db


def _payload(**kw):
    body = {"project": "health", "namespace": "s3://acme-eu-health", "name": "patients", "classification": "restricted",
            "contains_pii": True, "storage_jurisdiction": "DE", "processing_jurisdictions": ["DE", "EU"], "tags": ["oncology"]}
    body.update(kw)
    return body


def test_owner_creates_dataset_and_it_is_audited(api, owner, reference_data):
    r = api.as_user(owner).post("/api/v1/datasets/", _payload(), format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "dataset"
    assert body["processing_jurisdictions"] == ["DE", "EU"]
    assert body["residency_source"] == "declared"
    assert r["ETag"] == f'"{body["id"]}-1"'
    event = AuditEvent.objects.get(action="catalog.dataset.create", object_id=str(body["id"]))
    assert event.actor_label == "olga"
    assert event.after["name"] == "patients"
    assert event.request_id == r["X-Request-ID"]


def test_residency_inferred_from_namespace_rule_or_unknown(api, owner, reference_data, actor_context):
    from apps.catalog.models import Jurisdiction

    NamespaceRule.objects.create(pattern="s3://acme-eu-*", jurisdiction=Jurisdiction.objects.get(code="EU"))
    r = api.as_user(owner).post("/api/v1/datasets/", _payload(storage_jurisdiction=None, processing_jurisdictions=[]), format="json")
    assert r.status_code == 201, r.content
    assert r.json()["storage_jurisdiction"] == "EU"
    assert r.json()["residency_source"] == "namespace_rule"
    r = api.post("/api/v1/datasets/", _payload(namespace="s3://mystery", storage_jurisdiction=None, processing_jurisdictions=[]), format="json")
    assert r.status_code == 201
    assert r.json()["storage_jurisdiction"] is None
    assert r.json()["residency_known"] is False
    assert r.json()["residency_source"] == "unknown"


def test_bad_input_names_the_field_and_writes_nothing(api, owner, reference_data):
    before = (Asset.objects.count(), AuditEvent.objects.count())
    r = api.as_user(owner).post("/api/v1/datasets/", _payload(processing_jurisdictions=["DE", "XX"]), format="json")
    assert r.status_code == 400
    err = r.json()["error"]
    assert "processing_jurisdictions" in err["fields"]
    assert "XX" in err["fields"]["processing_jurisdictions"][0]
    r = api.post("/api/v1/datasets/", _payload(classification="top-secret"), format="json")
    assert r.status_code == 400 and "classification" in r.json()["error"]["fields"]
    r = api.post("/api/v1/datasets/", "not json", content_type="application/json")
    assert r.status_code == 400
    assert (Asset.objects.count(), AuditEvent.objects.count()) == before


def test_duplicate_location_is_a_400_not_a_500(api, owner, reference_data):
    assert api.as_user(owner).post("/api/v1/datasets/", _payload(), format="json").status_code == 201
    r = api.post("/api/v1/datasets/", _payload(), format="json")
    assert r.status_code == 400, r.content


def test_if_match_mismatch_is_412(api, owner, reference_data):
    created = api.as_user(owner).post("/api/v1/datasets/", _payload(), format="json")
    url = f"/api/v1/datasets/{created.json()['id']}/"
    etag = created["ETag"]
    ok = api.patch(url, {"description": "first"}, format="json", HTTP_IF_MATCH=etag)
    assert ok.status_code == 200 and ok["ETag"] != etag
    stale = api.patch(url, {"description": "second"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert Asset.objects.get(pk=created.json()["id"]).description == "first"


def test_isolation_owner_member_outsider(api, owner, member, outsider, make_dataset):
    ds = make_dataset()
    assert api.as_user(member).get(f"/api/v1/datasets/{ds.pk}/").status_code == 200
    assert api.as_user(outsider).get(f"/api/v1/datasets/{ds.pk}/").status_code == 404
    assert api.as_user(outsider).get("/api/v1/datasets/").json()["results"] == []
    # members may read but not delete; outsiders cannot even find it
    assert api.as_user(member).delete(f"/api/v1/datasets/{ds.pk}/").status_code == 403
    assert api.as_user(outsider).patch(f"/api/v1/datasets/{ds.pk}/", {"description": "x"}, format="json").status_code == 404
    # an outsider cannot create into a project they cannot see
    r = api.as_user(outsider).post("/api/v1/datasets/", _payload(), format="json")
    assert r.status_code == 400 and "project" in r.json()["error"]["fields"]
    assert api.as_user(owner).delete(f"/api/v1/datasets/{ds.pk}/").status_code == 204


def test_unauthenticated_is_refused(api, make_dataset):
    make_dataset()
    assert api.get("/api/v1/datasets/").status_code in (401, 403)


def test_list_query_count_is_constant(api, owner, make_dataset):
    for _ in range(3):
        make_dataset()
    from apps.accounts.models import User

    def fresh():  # a new user object per request, as in production (no role cache carried over)
        return api.as_user(User.objects.get(pk=owner.pk))

    client = fresh()
    with CaptureQueriesContext(connection) as small:
        assert client.get("/api/v1/datasets/?page_size=2").status_code == 200
    for _ in range(30):
        make_dataset()
    client = fresh()
    with CaptureQueriesContext(connection) as large:
        r = client.get("/api/v1/datasets/?page_size=30")
    assert r.status_code == 200 and len(r.json()["results"]) == 30
    assert len(large.captured_queries) == len(small.captured_queries) == 2  # roles + page


def test_filters_and_search(api, owner, make_dataset, reference_data):
    from apps.catalog.models import Jurisdiction

    make_dataset(name="eu-patients", storage_jurisdiction=Jurisdiction.objects.get(code="DE"), processing_jurisdictions=["EU"])
    make_dataset(name="us-clicks", storage_jurisdiction=Jurisdiction.objects.get(code="US"))
    make_dataset(name="mystery")
    client = api.as_user(owner)
    names = lambda q: sorted(d["name"] for d in client.get(f"/api/v1/datasets/?{q}").json()["results"])  # noqa: E731
    assert names("q=patients") == ["eu-patients"]
    assert names("residency=unknown") == ["mystery"]
    assert names("processing_jurisdiction=eu") == ["eu-patients"]
    assert names("storage_jurisdiction=US") == ["us-clicks"]
    r = client.get("/api/v1/datasets/?classification=nope")
    assert r.status_code == 400 and "classification" in r.json()["error"]["fields"]
    _ = services


def test_rule_inferred_storage_keeps_declared_processing_and_validates_codes(api, owner, reference_data, actor_context):
    from apps.catalog.models import Jurisdiction

    NamespaceRule.objects.create(pattern="s3://acme-eu-*", jurisdiction=Jurisdiction.objects.get(code="EU"))
    client = api.as_user(owner)
    r = client.post("/api/v1/datasets/", _payload(storage_jurisdiction=None, processing_jurisdictions=["ZZ"]), format="json")
    assert r.status_code == 400 and "ZZ" in r.json()["error"]["fields"]["processing_jurisdictions"][0]
    r = client.post("/api/v1/datasets/", _payload(storage_jurisdiction=None, processing_jurisdictions=["DE"]), format="json")
    assert r.status_code == 201 and r.json()["processing_jurisdictions"] == ["DE"]
    assert r.json()["storage_jurisdiction"] == "EU"


def test_processing_without_known_storage_is_rejected(api, owner, reference_data):
    r = api.as_user(owner).post(
        "/api/v1/datasets/", _payload(namespace="s3://nowhere", storage_jurisdiction=None, processing_jurisdictions=["DE"]),
        format="json")
    assert r.status_code == 400
    assert "storage_jurisdiction" in r.json()["error"]["fields"]
