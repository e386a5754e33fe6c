"""The policy and job pages: editor with Rego errors on save, lifecycle buttons, test runner, what-if,
waivers, the job queue with reasons, approve/deny with separation of duties."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.jobs.models import Job
from apps.policy.models import Policy, PolicyVersion, WhatIfReport
from tests.policy.fixtures import admit

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_pages_render(compliance, member, baseline, clusters, budget, eu_dataset, submit):
    job = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    version = baseline["residency"]
    for user in (compliance, member):
        client = signed_in(user)
        for url in ("/policies/", f"/policies/{version.policy_id}/", f"/policies/versions/{version.pk}/", "/policies/waivers/",
                    "/jobs/", f"/jobs/{job.pk}/", "/jobs/?state=denied&outcome=deny"):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
    page = signed_in(member).get(f"/jobs/{job.pk}/").content.decode()
    assert "eu-patients" in page and "may be processed only in EU" in page and "Facts the decision saw" in page
    assert 'href="/jobs/"' in signed_in(member).get("/").content.decode()  # the nav link


def test_editor_shows_rego_errors_on_save_and_the_lifecycle_runs(compliance, second_officer, clusters):
    client = signed_in(compliance)
    response = client.post("/policies/new/", {"slug": "custom", "name": "Custom", "template": "rego"})
    version = PolicyVersion.objects.get(policy__slug="custom")
    assert response.status_code == 302 and response["Location"] == f"/policies/versions/{version.pk}/edit/"
    form = {"version": version.version, "action": "deny", "param_timeout_ms": "250", "tests": "[]", "change_note": "",
            "rego_source": "package govhub.custom\nimport rego.v1\ndeny contains msg if {\n  msg :=\n}\n"}
    response = client.post(f"/policies/versions/{version.pk}/edit/", form)
    assert response.status_code == 200 and "Line 4, column" in response.content.decode()
    form["rego_source"] = "package govhub.custom\nimport rego.v1\ndeny contains msg if { input.job.gpus > 100; msg := \"too big\" }\n"
    form["tests"] = json.dumps([{"name": "small job", "input": {}, "expect": []},
                                {"name": "big job", "input": {"job": {"gpus": 512}}, "expect": [{"contains": "too big"}]}])
    form["scope_job_kinds"] = ["training"]
    assert client.post(f"/policies/versions/{version.pk}/edit/", form).status_code == 302
    version.refresh_from_db()
    assert version.scope["job_kinds"] == ["training"] and len(version.tests) == 2
    client.post(f"/policies/versions/{version.pk}/test/")
    assert version.test_runs.get().passed
    client.post(f"/policies/versions/{version.pk}/submit/")
    page = client.get(f"/policies/versions/{version.pk}/").content.decode()
    assert "another compliance officer must approve it" in page and "Approve and activate" not in page
    client.post(f"/policies/versions/{version.pk}/activate/")  # the author: refused
    assert PolicyVersion.objects.get(pk=version.pk).state == "review"
    other = signed_in(second_officer)
    assert "Approve and activate" in other.get(f"/policies/versions/{version.pk}/").content.decode()
    other.post(f"/policies/versions/{version.pk}/activate/", {"note": "reviewed"})
    assert PolicyVersion.objects.get(pk=version.pk).state == "active"
    response = client.post(f"/policies/{version.policy_id}/new-draft/", {"source": version.pk})
    draft = PolicyVersion.objects.get(policy=version.policy, number=2)
    assert response["Location"] == f"/policies/versions/{draft.pk}/edit/" and draft.rego_source == version.rego_source


def test_whatif_button_queues_a_report_that_the_page_lists(compliance, publish, django_capture_on_commit_callbacks):
    version = publish("gpu_quota")
    from apps.policy import services

    draft = services.new_draft(version.policy, compliance)
    client = signed_in(compliance)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        client.post(f"/policies/versions/{draft.pk}/whatif/", {"days": "7"})
    report = WhatIfReport.objects.get()
    assert report.days == 7 and report.summary["status"] == "running" and callbacks
    from apps.policy.services.whatif import complete

    complete(report.pk)
    page = client.get(f"/policies/whatif/{report.pk}/").content.decode()
    assert "Decisions replayed" in page


def test_members_cannot_change_policies(member, publish):
    version = publish("residency")
    client = signed_in(member)
    assert client.get("/policies/new/").status_code == 403
    assert client.post(f"/policies/versions/{version.pk}/retire/").status_code == 403
    assert Policy.objects.get().versions.get().state == "active"


def test_waiver_request_and_approval_in_the_ui(member, compliance, publish, project, eu_dataset):
    publish("classification")
    client = signed_in(member)
    response = client.post("/policies/waivers/new/", {"policy": "classification", "project": "health", "assets": str(eu_dataset.pk),
                                                      "justification": "Demo on synthetic copy", "ticket": "RISK-9",
                                                      "expires_at": "2099-01-01T00:00"})
    assert response.status_code == 200 and "at most" in response.content.decode()  # a year at most
    from django.utils import timezone

    soon = (timezone.now() + timezone.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/policies/waivers/new/", {"policy": "classification", "project": "health", "assets": str(eu_dataset.pk),
                                                      "justification": "Demo on synthetic copy", "ticket": "RISK-9", "expires_at": soon})
    assert response.status_code == 302
    waiver_url = response["Location"]
    assert "someone else must approve" in client.get(waiver_url).content.decode()
    officer = signed_in(compliance)
    assert "Approve" in officer.get(waiver_url).content.decode()
    officer.post(waiver_url + "approve/", {"note": "ok for two weeks"})
    assert "Approved" in officer.get(waiver_url).content.decode()


def test_job_queue_approve_and_deny_with_separation_of_duties(member, compliance, publish, clusters, budget, eu_dataset, submit):
    publish("trusted_images", action="require_approval")
    job = admit(submit([eu_dataset], target_cluster=clusters["fra"], image="docker.io/x/y:1"))
    assert job.state == "awaiting_approval"
    from apps.accounts import services as accounts

    accounts.set_membership(member, job.project, "ml_engineer")
    assert signed_in(member).post(f"/jobs/{job.pk}/approve/").status_code == 403
    officer = signed_in(compliance)
    page = officer.get(f"/jobs/{job.pk}/").content.decode()
    assert "Awaiting your approval" in page and "not pinned by a sha256 digest" in page
    officer.post(f"/jobs/{job.pk}/deny/", {"note": ""})
    assert Job.objects.get(pk=job.pk).state == "awaiting_approval"  # a denial needs a reason
    officer.post(f"/jobs/{job.pk}/deny/", {"note": "use the pinned image"})
    assert Job.objects.get(pk=job.pk).state == "denied"


def test_job_queue_query_count_is_constant(member, clusters, budget, eu_dataset, make_dataset, baseline, submit):
    admit(submit([eu_dataset]))
    client = signed_in(member)
    client.get("/jobs/")
    with CaptureQueriesContext(connection) as small:
        client.get("/jobs/")
    for i in range(5):
        admit(submit([eu_dataset, make_dataset(name=f"extra-{i}")], target_cluster=clusters["virginia"]))
    with CaptureQueriesContext(connection) as large:
        response = client.get("/jobs/")
    assert response.content.decode().count('class="asset-name"') == 6
    assert len(large) == len(small)
