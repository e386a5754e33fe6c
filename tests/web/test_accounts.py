"""Projects, members, service accounts and API tokens in the UI."""

from __future__ import annotations

import hashlib
import re

import pytest

from apps.accounts.models import ApiToken, Membership, User, UserKind
from apps.audit.models import AuditEvent

from .helpers import audit_writes

pytestmark = pytest.mark.django_db


# --- projects and members ---------------------------------------------------------------------

def test_projects_are_restricted_to_membership(login, outsider, project, other_project, make_dataset):
    make_dataset()
    client = login(outsider)
    html = client.get("/projects/").content.decode()
    assert "bank" in html and 'href="/projects/health/"' not in html
    assert client.get("/projects/health/").status_code == 404
    assert client.get("/projects/bank/").status_code == 200


def test_project_detail_shows_members_roles_and_asset_counts(login, owner, member, make_dataset):
    make_dataset()
    make_dataset()
    html = login(member).get("/projects/health/").content.decode()
    assert "olga" in html and "Data steward" in html and "milan" in html and "ML engineer" in html
    assert re.search(r'<span class="value">2</span><span class="label">Datasets</span>', html)
    assert "Add a member" not in html and "Change role" not in html


def test_only_admins_create_projects(login, admin_user, owner):
    assert login(owner).get("/projects/new/").status_code == 403
    assert login(owner).post("/projects/new/", {"slug": "x-1", "name": "X"}).status_code == 403
    client = login(admin_user)
    r = client.post("/projects/new/", {"slug": "Bad Slug", "name": "X"})
    assert r.status_code == 200 and 'id="id_slug_errors"' in r.content.decode()
    r = client.post("/projects/new/", {"slug": "gov-ai", "name": "Government AI", "description": ""})
    assert r.status_code == 302 and r["Location"] == "/projects/gov-ai/"
    assert AuditEvent.objects.filter(action="accounts.project.create", object_repr="gov-ai").exists()


def test_admin_adds_a_member_and_changes_a_role(login, admin_user, owner, outsider, project):
    client = login(admin_user)
    html = client.get("/projects/health/").content.decode()
    assert "Add a member" in html and "Change role" in html
    r = client.post("/projects/health/", {"user": outsider.pk, "role": "auditor"})
    assert r.status_code == 302
    assert Membership.objects.get(user=outsider, project=project).role == "auditor"
    r = client.post("/projects/health/", {"user": outsider.pk, "role": "ml_engineer"})
    assert Membership.objects.get(user=outsider, project=project).role == "ml_engineer"
    assert AuditEvent.objects.filter(action="accounts.membership.update").exists()
    before = audit_writes()
    r = client.post("/projects/health/", {"user": outsider.pk, "role": "overlord"})
    assert r.status_code == 200 and 'id="id_role_errors"' in r.content.decode()
    assert audit_writes() == before


def test_non_admins_cannot_change_members(login, owner, outsider, project):
    before = audit_writes()
    r = login(owner).post("/projects/health/", {"user": outsider.pk, "role": "administrator"})
    assert r.status_code == 403
    assert not Membership.objects.filter(user=outsider, project=project).exists()
    assert login(outsider).post("/projects/health/", {"user": outsider.pk, "role": "administrator"}).status_code == 404
    assert audit_writes() == before


# --- service accounts ---------------------------------------------------------------------------

def test_steward_creates_a_service_account_it_owns(login, owner, project):
    client = login(owner)
    r = client.post("/service-accounts/new/", {"username": "etl-nightly", "project": project.pk, "role": "data_steward",
                                               "description": "Nightly ETL"})
    assert r.status_code == 302
    account = User.objects.get(username="etl-nightly")
    assert (account.kind, account.owner, account.service_project) == (UserKind.SERVICE, owner, project)
    assert Membership.objects.get(user=account).role == "data_steward"
    assert "etl-nightly" in client.get("/service-accounts/").content.decode()


def test_no_privilege_escalation_through_a_service_account(login, member, project):
    before = (User.objects.count(), audit_writes())
    r = login(member).post("/service-accounts/new/", {"username": "sneaky", "project": project.pk, "role": "data_steward"})
    assert r.status_code == 200 and 'id="id_role_errors"' in r.content.decode()
    r = login(member).post("/service-accounts/new/", {"username": "bad name!", "project": project.pk, "role": "ml_engineer"})
    assert r.status_code == 200 and 'id="id_username_errors"' in r.content.decode()
    assert (User.objects.count(), audit_writes()) == before


def test_service_accounts_are_restricted_to_the_users_projects(login, outsider, auditor, pipeline):
    account, _ = pipeline
    assert "etl-pipeline" not in login(outsider).get("/service-accounts/").content.decode()
    assert login(outsider).get(f"/service-accounts/{account.pk}/").status_code == 404
    assert "etl-pipeline" in login(auditor).get("/service-accounts/").content.decode()
    assert login(auditor).get("/service-accounts/new/").status_code == 403


def test_token_is_shown_once_and_only_its_hash_is_stored(login, member, pipeline):
    account, _ = pipeline
    client = login(member)
    r = client.post(f"/service-accounts/{account.pk}/tokens/", {"name": "airflow", "scope": "write", "expires_in_days": 30})
    assert r.status_code == 200
    html = r.content.decode()
    raw = re.search(r'id="raw-token" value="([^"]+)"', html).group(1)
    assert raw.startswith("ghb_") and "will not be shown again" in html
    assert "no-store" in r["Cache-Control"]
    token = ApiToken.objects.get(name="airflow")
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {token.digest, token.key_id} and token.key_id in raw
    assert token.created_by == member and token.scope == "write"
    # Never again: not on the account page, not in the session, not in the audit ledger.
    detail = client.get(f"/service-accounts/{account.pk}/").content.decode()
    assert raw not in detail and f"ghb_{token.key_id}_" in detail and "airflow" in detail
    assert raw not in str(dict(client.session))
    assert not any(raw in str(e.after) for e in AuditEvent.objects.all())
    assert client.get(f"/service-accounts/{account.pk}/tokens/").status_code == 302  # GET shows nothing


def test_token_form_validation_and_permissions(login, member, auditor, outsider, pipeline):
    account, _ = pipeline
    before = (ApiToken.objects.count(), audit_writes())
    r = login(member).post(f"/service-accounts/{account.pk}/tokens/", {"name": "x", "scope": "write", "expires_in_days": 999})
    assert r.status_code == 200 and 'id="id_expires_in_days_errors"' in r.content.decode()
    assert "raw-token" not in r.content.decode()
    assert login(auditor).post(f"/service-accounts/{account.pk}/tokens/", {"name": "x", "scope": "read", "expires_in_days": 5}).status_code == 403
    assert login(outsider).post(f"/service-accounts/{account.pk}/tokens/", {"name": "x", "scope": "read", "expires_in_days": 5}).status_code == 404
    assert (ApiToken.objects.count(), audit_writes()) == before


def test_revoke_token(login, member, auditor, pipeline):
    account, _ = pipeline
    token = ApiToken.objects.get(user=account)
    assert login(auditor).post(f"/service-accounts/{account.pk}/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    client = login(member)
    assert f"/tokens/{token.pk}/revoke/" in client.get(f"/service-accounts/{account.pk}/").content.decode()
    r = client.post(f"/service-accounts/{account.pk}/tokens/{token.pk}/revoke/")
    assert r.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="accounts.apitoken.revoke", object_id=str(token.pk)).exists()
    assert client.post(f"/service-accounts/{account.pk}/tokens/999999/revoke/").status_code == 404


# --- clusters -------------------------------------------------------------------------------------

def test_clusters_are_readable_by_all_and_written_by_admins(login, admin_user, compliance, member, reference_data):
    from apps.compute.models import ComputeCluster

    data = {"name": "fra-h100", "display_name": "Frankfurt H100", "scheduler": "slurm", "jurisdiction": "DE",
            "region": "eu-central", "security_tier": 4, "confidential_computing": "on", "gpu_model": "H100",
            "gpu_count": 64, "price_per_gpu_hour": "2.90", "currency": "EUR", "power_per_gpu_watts": 700,
            "carbon_intensity_g_per_kwh": 350, "enabled": "on"}
    assert login(compliance).post("/clusters/new/", data).status_code == 403
    client = login(admin_user)
    r = client.post("/clusters/new/", {**data, "gpu_count": -1})
    assert r.status_code == 200 and 'id="id_gpu_count_errors"' in r.content.decode()
    r = client.post("/clusters/new/", data)
    assert r.status_code == 302
    cluster = ComputeCluster.objects.get(name="fra-h100")
    assert AuditEvent.objects.filter(action="compute.computecluster.create", object_id=str(cluster.pk)).exists()
    html = login(member).get(f"/clusters/{cluster.pk}/").content.decode()
    assert "Frankfurt H100" in html and "/edit/" not in html
    assert login(member).get(f"/clusters/{cluster.pk}/edit/").status_code == 403
    client = login(admin_user)  # one test client: signing in as someone else replaced the session
    r = client.post(f"/clusters/{cluster.pk}/edit/", {**data, "gpu_count": 128, "version": cluster.version})
    assert r.status_code == 302
    r = client.post(f"/clusters/{cluster.pk}/edit/", {**data, "gpu_count": 256, "version": cluster.version})
    assert "changed by someone else" in r.content.decode()
    cluster.refresh_from_db()
    assert cluster.gpu_count == 128
    assert "fra-h100" in login(member).get("/clusters/?jurisdiction=de").content.decode()
    assert "fra-h100" not in login(member).get("/clusters/?jurisdiction=FR").content.decode()
