"""Export scope, permissions, the API and the evidence page (progress, download, audit)."""

import datetime as dt
import json
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts import services as accounts
from apps.audit import sequencer
from apps.audit.models import AuditEvent, VerificationRun
from apps.evidence import services
from apps.evidence.models import Export
from govhub.celery import app as celery_app
from tests.evidence.conftest import read_zip
from tests.utils import start_celery_worker, stop, wait_for

pytestmark = pytest.mark.django_db


def events_of(export) -> list[dict]:
    return [json.loads(line)["event"] for line in read_zip(export.file_name)["events.jsonl"].splitlines()]


@pytest.fixture
def run_tasks_inline(monkeypatch):
    """on_commit → task.delay, executed in-process (the worker path has its own test below)."""
    from apps.audit import tasks as audit_tasks
    from apps.evidence import tasks

    monkeypatch.setattr(tasks.build_export, "delay", lambda export_id: tasks.build_export(export_id))
    monkeypatch.setattr(audit_tasks.verify, "delay", lambda run_id: audit_tasks.verify(run_id))


def test_an_asset_export_holds_the_model_and_everything_upstream(catalog, compliance, build_bundle):
    export = build_bundle(compliance, asset=catalog["tuned"])
    objects = {(e["object_type"], e["object_id"]) for e in events_of(export)}
    for name in ("tuned", "base", "corpus", "notes"):
        assert ("catalog.asset", str(catalog[name].pk)) in objects
    assert ("catalog.consentrecord", str(catalog["consent"].pk)) in objects
    assert any(t == "catalog.datasetversion" for t, _ in objects)
    assert ("catalog.asset", str(catalog["unrelated"].pk)) not in objects
    assert ("catalog.asset", str(catalog["theirs"].pk)) not in objects
    files = read_zip(export.file_name)
    assert files["omitted.txt"].count(b"\n") == json.loads(files["manifest.json"])["range"]["omitted"] > 0
    assert json.loads(files["manifest.json"])["scope"]["upstream_asset_ids"] == sorted(
        catalog[n].pk for n in ("tuned", "base", "corpus", "notes"))


def test_a_project_export_shows_other_projects_only_as_hashes(catalog, compliance, build_bundle, other_project):
    export = build_bundle(compliance, project=catalog["corpus"].project)
    events = events_of(export)
    assert events and {e["project_id"] for e in events} == {catalog["corpus"].project_id}
    theirs = AuditEvent.objects.get(object_type="catalog.asset", object_id=str(catalog["theirs"].pk))
    assert str(theirs.pk) not in {str(e["event_id"]) for e in events}
    assert b"bank" not in read_zip(export.file_name)["events.jsonl"]


def test_project_level_exporters_are_confined_to_their_projects(catalog, project, other_project, actor_context):
    officer = accounts.create_person("pia", password="correct-horse-battery")
    accounts.set_membership(officer, project, "compliance_officer")
    since = timezone.now() - dt.timedelta(hours=1)
    with pytest.raises(services.PermissionDenied, match="choose a project"):
        services.request_export(officer, since=since, enqueue=False)
    with pytest.raises(services.PermissionDenied):
        services.request_export(officer, since=since, project=other_project, enqueue=False)
    with pytest.raises(services.PermissionDenied):
        services.request_export(officer, since=since, asset=catalog["theirs"], enqueue=False)
    mine = services.request_export(officer, since=since, project=project, enqueue=False)
    assert list(services.visible_exports(officer)) == [mine]


def test_api_request_progress_and_audited_download(api, catalog, compliance, run_tasks_inline, django_capture_on_commit_callbacks):
    client = api.as_user(compliance)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/evidence/exports/", {"since": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
                                                             "asset": catalog["tuned"].pk}, format="json")
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    assert AuditEvent.objects.filter(action="evidence.export.request", object_id=export_id).exists()
    body = client.get(f"/api/v1/evidence/exports/{export_id}/").json()
    assert body["state"] == "done" and body["percent"] == 100 and body["rows_done"] == body["rows_total"] > 0
    download = client.get(body["download_url"].replace("http://testserver", ""), HTTP_ACCEPT="application/zip")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert download.getvalue()[:2] == b"PK"
    assert AuditEvent.objects.filter(action="evidence.export.download", object_id=export_id).count() == 1
    assert [e["id"] for e in client.get("/api/v1/evidence/exports/").json()["results"]] == [export_id]


def test_api_refuses_bad_input_and_unprivileged_users(api, catalog, compliance, member):
    client = api.as_user(compliance)
    now = timezone.now()
    response = client.post("/api/v1/evidence/exports/", {"since": now.isoformat(), "until": (now - dt.timedelta(days=1)).isoformat()},
                           format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) >= {"until"}
    assert client.post("/api/v1/evidence/exports/", {}, format="json").json()["error"]["fields"]["since"]
    bad_asset = client.post("/api/v1/evidence/exports/", {"since": (now - dt.timedelta(days=1)).isoformat(), "asset": 999999}, format="json")
    assert bad_asset.status_code == 400 and "asset" in bad_asset.json()["error"]["fields"]
    refused = api.as_user(member).post("/api/v1/evidence/exports/", {"since": (now - dt.timedelta(days=1)).isoformat()}, format="json")
    assert refused.status_code == 403
    assert api.as_user(member).get(f"/api/v1/evidence/exports/{uuid.uuid4()}/").status_code == 404


def test_evidence_page_request_progress_and_download(client, catalog, compliance, make_dataset, run_tasks_inline,
                                                      django_capture_on_commit_callbacks):
    make_dataset()
    sequencer.sequence()
    client.force_login(compliance)
    page = client.get("/evidence/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Latest signed checkpoint" in text and "Request an export" in text and "Not verified yet" in text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/evidence/exports/", {"since": (timezone.now() - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                                                      "project": catalog["corpus"].project_id})
    assert response.status_code == 302
    export = Export.objects.get()
    detail = client.get(response["Location"])
    assert detail.status_code == 200 and "Download the bundle" in detail.content.decode()
    partial = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"hx-trigger" not in partial.content  # finished: polling stops
    Export.objects.filter(pk=export.pk).update(state="running", rows_total=200, rows_done=50)
    running = client.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in running and 'value="25"' in running and "50 of 200" in running
    Export.objects.filter(pk=export.pk).update(state="done")
    download = client.get(f"/evidence/exports/{export.pk}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"PK"
    assert AuditEvent.objects.filter(action="evidence.export.download", object_id=str(export.pk)).exists()


def test_evidence_page_is_for_exporters_only_and_verify_now_runs(client, member, compliance, make_dataset, run_tasks_inline,
                                                                 django_capture_on_commit_callbacks):
    client.force_login(member)
    assert client.get("/evidence/").status_code == 403
    client.force_login(compliance)
    make_dataset()
    sequencer.sequence()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/evidence/verify/").status_code == 302
    run = VerificationRun.objects.get()
    assert run.ok and run.trigger == "ui"
    assert "Verified" in client.get("/evidence/").content.decode()
    assert AuditEvent.objects.filter(action="audit.ledger.verify_request").exists()


def test_form_errors_are_shown_not_raised(client, compliance):
    client.force_login(compliance)
    response = client.post("/evidence/exports/", {"since": (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 400 and "must be in the past" in response.content.decode()


def test_export_audit_command(catalog, tmp_path, capsys):
    from django.core.management import call_command

    out = tmp_path / "out" / "bundle.zip"
    call_command("export_audit", "--since", (timezone.now() - dt.timedelta(days=1)).date().isoformat(), "--project",
                 catalog["corpus"].project.slug, "--out", str(out))
    assert out.exists() and "wrote" in capsys.readouterr().out
    export = Export.objects.get()
    assert export.requested_label == "cli:export_audit"
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--project: no project"):
        call_command("export_audit", "--since", "2026-01-01", "--project", "nope", "--out", str(out))
    with pytest.raises(CommandError, match="not a date"):
        call_command("export_audit", "--since", "yesterday", "--out", str(out))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_export_enqueued_on_commit(catalog, compliance, tmp_path, settings):
    queue = f"test-{uuid.uuid4().hex[:10]}"
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    import os

    os.environ["GOVHUB_EXPORT_DIR"] = str(tmp_path / "worker-exports")
    os.environ["GOVHUB_CHECKPOINT_DIR"] = str(tmp_path / "worker-checkpoints")
    proc = start_celery_worker(connection.settings_dict, queue)
    try:
        export = services.request_export(compliance, since=timezone.now() - dt.timedelta(hours=1))
        done = wait_for(lambda: Export.objects.filter(pk=export.pk, state__in=["done", "failed"]).first(), timeout=180,
                        what="the worker to build the export")
        assert done.state == "done", done.error
        assert done.file_name.startswith(str(tmp_path / "worker-exports"))
        event = AuditEvent.objects.get(action="evidence.export.complete", object_id=str(export.pk))
        assert event.actor_label == "system:build_export"
    finally:
        celery_app.conf.task_default_queue = saved
        os.environ.pop("GOVHUB_EXPORT_DIR", None)
        os.environ.pop("GOVHUB_CHECKPOINT_DIR", None)
        output = stop(proc)
        if proc.returncode not in (0, -15):
            print(output)


def test_housekeeping_fails_a_dead_build_and_requeues_a_lost_request(compliance, catalog, monkeypatch, settings, actor_context):
    from apps.evidence import tasks
    from apps.evidence.exports import bundle

    queued: list[str] = []
    monkeypatch.setattr(tasks.build_export, "delay", lambda export_id: queued.append(export_id))
    since = timezone.now() - dt.timedelta(hours=1)
    dead = services.request_export(compliance, since=since, enqueue=False)
    older = services.request_export(compliance, since=since, enqueue=False)  # started before heartbeats existed
    alive = services.request_export(compliance, since=since, enqueue=False)
    lost = services.request_export(compliance, since=since, enqueue=False)
    fresh = services.request_export(compliance, since=since, enqueue=False)
    long_ago = timezone.now() - dt.timedelta(seconds=settings.GOVHUB_EXPORT_STALE_SECONDS + 60)
    Export.objects.filter(pk=dead.pk).update(state="running", started_at=long_ago, heartbeat_at=long_ago)
    Export.objects.filter(pk=older.pk).update(state="running", started_at=long_ago, heartbeat_at=None)
    Export.objects.filter(pk=alive.pk).update(state="running", started_at=long_ago, heartbeat_at=timezone.now())
    Export.objects.filter(pk=lost.pk).update(requested_at=long_ago)
    bundle.export_dir().mkdir(parents=True, exist_ok=True)
    leftover = bundle.export_dir() / f"govhub-evidence-{str(dead.pk)[:8]}-42.zip.part"
    leftover.write_bytes(b"half a bundle")

    assert services.reap_exports() == {"failed": 2, "requeued": 1, "expired": 0}
    assert Export.objects.get(pk=older.pk).state == "failed"
    dead.refresh_from_db()
    assert dead.state == "failed" and "stopped" in dead.error and "request the export again" in dead.error
    assert not leftover.exists()
    assert AuditEvent.objects.filter(action="evidence.export.fail", object_id=str(dead.pk)).count() == 1
    assert Export.objects.get(pk=alive.pk).state == "running"  # still showing progress: left alone
    assert queued == [str(lost.pk)] and Export.objects.get(pk=fresh.pk).state == "pending"
    assert services.reap_exports()["failed"] == 0  # a second pass changes nothing


def test_bundles_past_retention_are_deleted_and_say_why(client, compliance, catalog, build_bundle, settings,
                                                        django_capture_on_commit_callbacks):
    from pathlib import Path

    export = build_bundle(compliance)
    path = Path(export.file_name)
    assert path.exists()
    assert services.reap_exports()["expired"] == 0  # young bundles stay
    later = export.finished_at + dt.timedelta(days=settings.GOVHUB_EXPORT_RETENTION_DAYS, hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reap_exports(now=later)["expired"] == 1
    export.refresh_from_db()
    assert export.state == "expired" and not path.exists()
    event = AuditEvent.objects.get(action="evidence.export.expire", object_id=str(export.pk))
    assert event.extra["sha256"] == export.sha256  # what was deleted stays provable
    with pytest.raises(Exception, match="retention"):
        services.record_download(export)
    client.force_login(compliance)
    page = client.get(f"/evidence/exports/{export.pk}/").content.decode()
    assert "Expired" in page and "retention period" in page and "every 1s" not in page  # no endless polling
