import pytest

pytestmark = pytest.mark.django_db


def test_health_is_public_and_checks_services(client):
    r = client.get("/health/")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_everything_else_needs_authentication(client):
    for path in ("/api/v1/datasets/", "/api/schema/", "/api/docs/"):
        assert client.get(path).status_code in (401, 403), path
    r = client.get("/datasets/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_request_id_is_echoed_and_kept_when_well_formed(client):
    assert len(client.get("/health/")["X-Request-ID"]) == 32
    assert client.get("/health/", HTTP_X_REQUEST_ID="trace-abc-12345")["X-Request-ID"] == "trace-abc-12345"
    assert client.get("/health/", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"


def test_api_errors_are_json_with_one_shape(api, owner):
    r = api.as_user(owner).get("/api/v1/datasets/999999/")
    assert r.status_code == 404 and r.json()["error"]["status"] == 404
    r = api.get("/api/v1/nothing-here/")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.put("/api/v1/dataset-versions/1/", {}, format="json")
    assert r.status_code == 405 and "error" in r.json()


def test_api_docs_are_served_without_cdn(api, owner):
    r = api.as_user(owner).get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", "googleapis"):
        assert cdn not in html
    assert "/static/drf_spectacular_sidecar/" in html


def test_demo_loads_idempotently(actor_context, reference_data):
    from apps.catalog.models import Asset, ConsentRecord
    from apps.core.demo import load_demo

    first = load_demo("demo-password-123")
    assert first["assets"] == 13 and first["projects"] == 3
    assert load_demo("demo-password-123") == {k: 0 for k in first}
    unknown = Asset.objects.get(name="export-2026-03")
    assert unknown.storage_jurisdiction_id is None and unknown.residency_source == "unknown"
    assert ConsentRecord.objects.expiring_within(30).count() == 1
    assert Asset.objects.get(name="onco-assist-8b").kind == "fine_tune"
    assert Asset.objects.get(name="oncology-imaging-2025").processing_jurisdictions == ["EU"]
