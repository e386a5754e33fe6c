"""/metrics (token or allow-list only), the dispatch pages, the include for cluster pages, and
the budget-limits / job-usage API — each restricted by role and project."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from apps.dispatch import usage
from apps.dispatch.models import UsageRecord, UsageSample
from apps.jobs.models import JobState
from apps.jobs.services import transition

from .factories import make_cluster, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def ran(reference_data, actor_context, project, member):
    """A job that was dispatched, ran, used 2 GPU-hours, and was stopped by a guardrail."""
    cluster = make_cluster(price_per_gpu_hour=Decimal("3"))
    usage.set_budget(project, amount=Decimal("100"), gpu_hours_limit=Decimal("10"), period_start=timezone.now() - dt.timedelta(days=1))
    job = make_job(project, member, cluster)
    now = timezone.now()
    transition(job.pk, JobState.APPROVED, JobState.DISPATCHING, "test")
    transition(job.pk, JobState.DISPATCHING, JobState.DISPATCHED, "Submitted", scheduler_job_id="41")
    transition(job.pk, JobState.DISPATCHED, JobState.RUNNING, "Running")
    transition(job.pk, JobState.RUNNING, JobState.CANCEL_REQUESTED, "Guardrail: the consent was withdrawn")
    transition(job.pk, JobState.CANCEL_REQUESTED, JobState.STOPPED, "The scheduler reports the job gone (CANCELLED)")
    UsageRecord.objects.create(job=job, project=project, cluster=cluster, backend="slurm_rest", gpus=1, gpu_hours=2, energy_kwh=1.4,
                               cost=Decimal("6"), co2e_kg=0.49, approved_at=now - dt.timedelta(seconds=2),
                               submit_started_at=now - dt.timedelta(seconds=1.97), submit_finished_at=now - dt.timedelta(seconds=1.9),
                               recorded_at=now - dt.timedelta(seconds=1.88), running_seen_at=now - dt.timedelta(seconds=1),
                               cancel_requested_at=now, cancel_acked_at=now + dt.timedelta(seconds=0.2))
    UsageSample.objects.create(job=job, project=project, cluster=cluster, at=now - dt.timedelta(hours=3), gpu_hours=2,
                               energy_kwh=1.4, cost=Decimal("6"), co2e_kg=0.49)
    return job


def test_metrics_need_a_token_or_an_allowed_address(client, ran, settings):
    settings.GOVHUB_METRICS_TOKEN = "metrics-secret-1234567890"
    settings.GOVHUB_METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret-1234567890")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'govhub_jobs{state="stopped"} 1.0' in text
    assert 'govhub_gpu_hours_total{project="health"} 2.0' in text
    assert 'govhub_spend_total{currency="EUR",project="health"} 6.0' in text
    assert 'govhub_dispatch_overhead_seconds_bucket{le="0.1"} 1.0' in text  # 30 ms + 20 ms
    assert 'govhub_cancel_ack_seconds_bucket{le="0.25"} 1.0' in text
    assert 'govhub_budget_used_ratio{dimension="gpu_hours",project="health"} 0.2' in text
    assert "govhub_policy_decisions_total" in text
    settings.GOVHUB_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 403
    settings.GOVHUB_METRICS_ALLOWED_IPS = ["127.0.0.0/8"]
    assert client.get("/metrics").status_code == 200  # the test client's REMOTE_ADDR is 127.0.0.1


def test_job_page_shows_the_timeline_and_usage(client, ran, member, outsider):
    client.force_login(member)
    page = client.get(f"/dispatch/jobs/{ran.pk}/").content.decode()
    for label in ("Submitted", "Decided: approved", "Dispatched to the scheduler", "Running", "Cancel requested",
                  "Stopped (the scheduler confirmed)"):
        assert label in page
    assert "the consent was withdrawn" in page and "6.00 EUR" in page and "govhub's dispatch time" in page
    client.force_login(outsider)
    assert client.get(f"/dispatch/jobs/{ran.pk}/").status_code == 404


def test_budget_page_has_burn_down_and_forecast(client, ran, member, outsider):
    client.force_login(member)
    page = client.get("/dispatch/budgets/health/").content.decode()
    assert "<svg" in page and "GPU-hours" in page and "runs out on" in page and "20%" in page
    assert "https://" not in page.split("<svg", 1)[1].split("</svg>")[0].replace("http://www.w3.org/2000/svg", "")
    client.force_login(outsider)
    assert client.get("/dispatch/budgets/health/").status_code == 404


def test_cluster_pages_and_include(client, ran, member, outsider):
    client.force_login(member)
    page = client.get("/dispatch/clusters/").content.decode()
    assert "local-test" in page and "6.00 EUR" in page
    client.force_login(outsider)  # capacity is visible to all; spend only for one's own projects
    assert "0.00 EUR" in client.get("/dispatch/clusters/").content.decode()
    request = RequestFactory().get("/")
    request.user = member
    html = Template("{% load dispatch_tags %}{% cluster_usage cluster %}").render(Context({"request": request, "cluster": ran.cluster}))
    assert "Load and spend" in html and "6.00 EUR" in html


def test_budget_limits_api_by_role(api, ran, member, compliance, project):
    limits = project.budget.limits
    api.as_user(member)
    listed = api.get("/api/v1/budget-limits")
    assert listed.status_code == 200 and listed.json()["results"][0]["project"] == "health"
    assert api.patch(f"/api/v1/budget-limits/{limits.pk}", {"max_concurrent_gpus": 8}, format="json").status_code == 403
    api.as_user(compliance)
    changed = api.patch(f"/api/v1/budget-limits/{limits.pk}", {"max_concurrent_gpus": 8, "warn_percent": 70}, format="json")
    assert changed.status_code == 200 and changed.json()["max_concurrent_gpus"] == 8
    bad = api.patch(f"/api/v1/budget-limits/{limits.pk}", {"warn_percent": 120, "hard_percent": 100}, format="json")
    assert bad.status_code == 400 and "warn_percent" in bad.json()["error"]["fields"]
    usage_rows = api.get("/api/v1/job-usage").json()["results"]
    assert usage_rows[0]["job"] == ran.pk and usage_rows[0]["govhub_dispatch_seconds"] == pytest.approx(0.05, abs=0.001)


def test_job_usage_is_restricted_to_the_projects_one_sees(api, ran, outsider):
    api.as_user(outsider)
    assert api.get("/api/v1/job-usage").json()["results"] == []
    assert api.get(f"/api/v1/job-usage/{ran.pk}").status_code == 404


def test_grafana_dashboard_reads_metrics_govhub_exposes(client, ran, settings):
    import json
    import re
    from pathlib import Path

    settings.GOVHUB_METRICS_ALLOWED_IPS = ["127.0.0.1/32"]
    exposed = client.get("/metrics").content.decode()
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json").read_text())
    names = {name for panel in dashboard["panels"] for target in panel["targets"] for name in re.findall(r"govhub_\w+", target["expr"])}
    families = set(re.findall(r"^# TYPE (\w+) ", exposed, re.M))
    missing = sorted(n for n in names if n not in families and re.sub(r"_(total|bucket)$", "", n) not in families)
    assert names and not missing, missing
