import pytest

from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_project_visibility_by_membership(api, owner, outsider, compliance, project, other_project):
    assert [p["slug"] for p in api.as_user(owner).get("/api/v1/projects/").json()["results"]] == ["health"]
    assert [p["slug"] for p in api.as_user(outsider).get("/api/v1/projects/").json()["results"]] == ["bank"]
    assert {p["slug"] for p in api.as_user(compliance).get("/api/v1/projects/").json()["results"]} == {"health", "bank"}


def test_only_admins_create_projects_and_manage_members(api, owner, admin_user, member, project):
    assert api.as_user(owner).post("/api/v1/projects/", {"slug": "new", "name": "New"}, format="json").status_code == 403
    r = api.as_user(admin_user).post("/api/v1/projects/", {"slug": "new", "name": "New"}, format="json")
    assert r.status_code == 201
    assert api.as_user(admin_user).post("/api/v1/projects/", {"slug": "Bad Slug!", "name": "x"}, format="json").status_code == 400
    r = api.as_user(owner).post("/api/v1/memberships/", {"user": "milan", "project": "health", "role": "administrator"}, format="json")
    assert r.status_code == 403
    r = api.as_user(admin_user).post("/api/v1/memberships/", {"user": "milan", "project": "new", "role": "data_steward"}, format="json")
    assert r.status_code == 201
    assert AuditEvent.objects.filter(action="accounts.membership.create").exists()


def test_clusters_readable_by_all_writable_by_admin(api, member, admin_user, reference_data):
    body = {"name": "fra-h100", "scheduler": "slurm", "jurisdiction": "DE", "security_tier": 4, "gpu_count": 8,
            "price_per_gpu_hour": "2.50"}
    assert api.as_user(member).post("/api/v1/clusters/", body, format="json").status_code == 403
    r = api.as_user(admin_user).post("/api/v1/clusters/", body, format="json")
    assert r.status_code == 201, r.content
    assert api.as_user(member).get("/api/v1/clusters/?jurisdiction=de").json()["results"][0]["name"] == "fra-h100"
    r = api.as_user(admin_user).post("/api/v1/clusters/", {**body, "name": "x", "security_tier": 9, "price_per_gpu_hour": "-1"}, format="json")
    assert r.status_code == 400 and {"security_tier", "price_per_gpu_hour"} <= set(r.json()["error"]["fields"])
