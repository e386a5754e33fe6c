import datetime as dt
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.accounts import services
from apps.accounts.models import ApiToken, User
from apps.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_token_is_stored_only_as_hash(pipeline):
    account, raw = pipeline
    token = ApiToken.objects.get(user=account)
    assert raw not in {token.digest, token.key_id, token.name}
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    event = AuditEvent.objects.get(action="accounts.apitoken.create", object_id=str(token.pk))
    assert raw not in str(event.after) and "digest" not in event.after


def test_bearer_token_authenticates_and_is_scoped_to_project(api, pipeline, make_dataset, other_project, actor_context):
    from apps.catalog import services as catalog

    _, raw = pipeline
    mine = make_dataset(name="mine")
    theirs = catalog.create_asset("dataset", {"project": other_project, "namespace": "s3://b", "name": "theirs"})
    client = api.with_token(raw)
    assert client.get("/api/v1/me").json()["memberships"] == [{"project": "health", "role": "ml_engineer"}]
    assert client.get(f"/api/v1/datasets/{mine.pk}/").status_code == 200
    assert client.get(f"/api/v1/datasets/{theirs.pk}/").status_code == 404
    r = client.post("/api/v1/datasets/", {"project": "health", "namespace": "s3://p", "name": "from-pipeline"}, format="json")
    assert r.status_code == 201
    event = AuditEvent.objects.get(action="catalog.dataset.create", object_id=str(r.json()["id"]))
    assert event.actor_label.startswith("etl-pipeline (token ")
    assert event.actor_kind == "service"


def test_read_scope_cannot_write(api, project, member, actor_context, reference_data):
    account = services.create_service_account("reader", owner=member, project=project)
    _, raw = services.issue_token(account, name="ro", scope="read")
    client = api.with_token(raw)
    assert client.get("/api/v1/datasets/").status_code == 200
    r = client.post("/api/v1/datasets/", {"project": "health", "namespace": "s3://p", "name": "x"}, format="json")
    assert r.status_code == 403


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ghb_abc_def", "Bearer a b", "Token x"])
def test_bad_tokens_are_401(api, pipeline, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    r = api.get("/api/v1/datasets/")
    assert r.status_code in (401, 403)
    assert "error" in r.json()


def test_revoked_and_expired_tokens_are_refused(api, pipeline, actor_context):
    account, raw = pipeline
    token = ApiToken.objects.get(user=account)
    services.revoke_token(token)
    r = api.with_token(raw).get("/api/v1/datasets/")
    assert r.status_code == 401 and "revoked" in r.json()["error"]["detail"]
    token2, raw2 = services.issue_token(account, name="short", scope="read", expires_in_days=1)
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    r = api.with_token(raw2).get("/api/v1/datasets/")
    assert r.status_code == 401 and "expired" in r.json()["error"]["detail"]


def test_token_rules(project, member, actor_context):
    from django.core.exceptions import ValidationError

    account = services.create_service_account("bot", owner=member, project=project)
    with pytest.raises(ValidationError):
        services.issue_token(account, name="x", expires_in_days=1000)
    with pytest.raises(ValidationError):
        services.issue_token(member, name="people sign in")
    with pytest.raises(ValidationError):
        services.create_service_account("bot2", owner=account, project=project)


def test_service_account_api_creates_account_and_shows_token_once(api, member, project):
    client = api.as_user(member)
    r = client.post("/api/v1/service-accounts/", {"username": "airflow", "project": "health"}, format="json")
    assert r.status_code == 201, r.content
    sa_id = r.json()["id"]
    assert r.json()["owner"] == "milan"
    r = client.post(f"/api/v1/service-accounts/{sa_id}/tokens/", {"name": "prod", "scope": "write", "expires_in_days": 30}, format="json")
    assert r.status_code == 201 and r.json()["token"].startswith("ghb_")
    listed = client.get(f"/api/v1/service-accounts/{sa_id}/tokens/").json()
    assert len(listed) == 1 and "token" not in listed[0]
    r = client.post(f"/api/v1/service-accounts/{sa_id}/tokens/{listed[0]['id']}/revoke/")
    assert r.status_code == 200 and r.json()["status"] == "revoked"


def test_outsider_cannot_see_or_use_service_accounts(api, pipeline, outsider):
    account, _ = pipeline
    client = api.as_user(outsider)
    assert client.get("/api/v1/service-accounts/").json()["results"] == []
    assert client.post(f"/api/v1/service-accounts/{account.pk}/tokens/", {"name": "steal"}, format="json").status_code == 404
    r = client.post("/api/v1/service-accounts/", {"username": "x", "project": "health"}, format="json")
    assert r.status_code == 400 and "project" in r.json()["error"]["fields"]


def test_issue_token_command(project, admin_user, capsys):
    out = io.StringIO()
    call_command("issue_token", "nightly-etl", "--project", "health", "--scope", "write", "--expires", "7", stdout=out)
    raw = out.getvalue().strip()
    account = User.objects.get(username="nightly-etl")
    assert account.kind == "service" and account.owner == admin_user and account.service_project == project
    token = ApiToken.objects.get(user=account)
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest() and token.scope == "write"
    assert (token.expires_at - timezone.now()).days in (6, 7)
    out2 = io.StringIO()
    call_command("issue_token", "nightly-etl", "--project", "health", stdout=out2)
    assert out2.getvalue().strip() != raw and ApiToken.objects.filter(user=account).count() == 2
    with pytest.raises(CommandError, match="No project"):
        call_command("issue_token", "x", "--project", "nope")
    with pytest.raises(CommandError, match="between 1 and 366"):
        call_command("issue_token", "nightly-etl", "--project", "health", "--expires", "0")
    with pytest.raises(CommandError, match="person"):
        call_command("issue_token", admin_user.username, "--project", "health")


def test_separation_of_duties(project, member, owner, actor_context):
    from apps.core.sod import SeparationOfDutiesError, ensure_separate

    account = services.create_service_account("bot", owner=member, project=project)
    ensure_separate(member, owner, "a waiver")
    with pytest.raises(SeparationOfDutiesError, match="may not approve"):
        ensure_separate(member, member, "a waiver")
    with pytest.raises(SeparationOfDutiesError, match="owner"):
        ensure_separate(account, member, "a job")


def test_no_privilege_escalation_through_service_accounts(api, member, project):
    r = api.as_user(member).post("/api/v1/service-accounts/", {"username": "steward-bot", "project": "health",
                                                               "role": "data_steward"}, format="json")
    assert r.status_code == 400 and "role" in r.json()["error"]["fields"]
    assert not User.objects.filter(username="steward-bot").exists()
    r = api.as_user(member).post("/api/v1/service-accounts/", {"username": "ml-bot", "project": "health",
                                                               "role": "ml_engineer"}, format="json")
    assert r.status_code == 201


def test_project_members_see_their_projects_audit_events(owner, outsider, make_dataset):
    from apps.audit.models import AuditEvent

    ds = make_dataset()
    mine = AuditEvent.objects.restrict(owner).for_object(ds)
    assert mine.count() == 1
    assert AuditEvent.objects.restrict(outsider).for_object(ds).count() == 0


def _counting_token_queries(monkeypatch) -> list[str]:
    from apps.accounts import authentication

    calls: list[str] = []
    real = authentication.sql.rows

    def rows(query, params=None, **kwargs):
        if "accounts_apitoken" in query:
            calls.append(query)
        return real(query, params, **kwargs)

    monkeypatch.setattr(authentication.sql, "rows", rows)
    return calls


def test_token_rows_are_cached_until_anything_behind_them_changes(api, pipeline, project, monkeypatch, actor_context):
    from django.core.cache import cache

    from apps.accounts import authcache

    account, raw = pipeline
    client = api.with_token(raw)
    queries = _counting_token_queries(monkeypatch)
    assert client.get("/api/v1/datasets/").status_code == 200
    assert client.get("/api/v1/datasets/").status_code == 200
    assert len(queries) == 1  # the second call used this process's copy
    cache.set(authcache.KEY, 12345, None)  # another process changed something: a new generation
    assert client.get("/api/v1/datasets/").status_code == 200
    assert len(queries) == 2
    membership = account.memberships.get(project=project)
    services.set_membership(account, project, "auditor")  # a role change (to read-only) is seen by the next call
    r = client.post("/api/v1/datasets/", {"project": "health", "namespace": "s3://p", "name": "after-demotion"}, format="json")
    assert r.status_code == 403 and len(queries) == 3
    services.remove_membership(membership.__class__.objects.get(pk=membership.pk))
    assert client.get("/api/v1/datasets/").json()["results"] == []
    services.revoke_token(ApiToken.objects.get(user=account))  # revocation: refused at once
    r = client.get("/api/v1/datasets/")
    assert r.status_code == 401 and "revoked" in r.json()["error"]["detail"]


def test_deactivated_account_is_refused_at_once_after_cached_use(api, pipeline, actor_context):
    account, raw = pipeline
    client = api.with_token(raw)
    assert client.get("/api/v1/datasets/").status_code == 200
    services.deactivate_service_account(account)
    assert client.get("/api/v1/datasets/").status_code == 401


def test_without_redis_every_call_reads_the_database(api, pipeline, monkeypatch):
    from apps.core import generations

    _, raw = pipeline
    client = api.with_token(raw)
    queries = _counting_token_queries(monkeypatch)

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(generations.cache, "get_many", down)
    for _ in range(3):
        assert client.get("/api/v1/datasets/").status_code == 200
    assert len(queries) == 3
