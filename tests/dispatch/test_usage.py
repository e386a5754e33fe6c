"""Telemetry parsing (the real Prometheus parser on the DCGM sample), usage accrual, budgets with
warn and hard thresholds, burn-down and forecast."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from apps.dispatch import monitor, telemetry, usage
from apps.dispatch.models import BudgetLimits, Notification, UsageRecord, UsageSample
from apps.jobs.models import Job, JobState

from .factories import DCGM_SAMPLE, make_cluster, make_job

GPU0 = "GPU-3c1f2a7e-9b4d-4e61-a0c2-5d7e8f9a1b2c"


def test_dcgm_sample_parsed_by_the_prometheus_parser():
    readings = {r.uuid: r for r in telemetry.parse(DCGM_SAMPLE.read_text())}
    assert set(readings) == {GPU0, "GPU-8e2d4b6a-1c3f-4a5e-b7d9-0f1e2d3c4b5a"}
    gpu = readings[GPU0]
    assert (gpu.power_w, gpu.energy_mj, gpu.util_percent, gpu.fb_used_mib) == (612.437, 4187263391.0, 97.0, 71290.0)
    assert gpu.host == "gpu-node-01" and gpu.labels["pod"] == "train-apr-123-x7k2p"
    job = telemetry.for_job(readings.values(), {"namespace": "ml-team", "pod_prefix": "train-apr-123-"})
    assert job is not None and len(job.gpus) == 1 and job.power_w == pytest.approx(612.437)
    assert telemetry.for_job(readings.values(), {"namespace": "other", "pod_prefix": "train-apr-123-"}) is None
    lower = telemetry.parse(DCGM_SAMPLE.read_text().replace("Hostname=", "hostname="))
    assert {r.host for r in lower} == {"gpu-node-01"}  # newer exporters spell it in lower case


def test_malformed_or_missing_telemetry_is_reported(tmp_path):
    bad = tmp_path / "bad.prom"
    bad.write_text('DCGM_FI_DEV_POWER_USAGE{gpu="0" 12\n')
    with pytest.raises(telemetry.TelemetryUnavailable):
        telemetry.scrape(str(bad))
    with pytest.raises(telemetry.TelemetryUnavailable):
        telemetry.scrape(str(tmp_path / "missing.prom"))


@pytest.mark.django_db
def test_accrual_estimates_then_reads_energy_counters(reference_data, actor_context):
    cluster = make_cluster(power_per_gpu_watts=700, price_per_gpu_hour=Decimal("2.5"), carbon_intensity_g_per_kwh=350)
    estimate = usage.accrue(cluster, gpus=2, seconds=3600, telemetry=None, previous_counters={})
    assert estimate.gpu_hours == 2 and estimate.energy_kwh == pytest.approx(1.4) and estimate.cost == Decimal("5.0000")
    assert estimate.co2e_kg == pytest.approx(0.49) and estimate.energy_source == "estimate"
    readings = telemetry.for_job(telemetry.parse(DCGM_SAMPLE.read_text()), {"namespace": "ml-team", "pod_prefix": "train-"})
    first = usage.accrue(cluster, 1, 60, readings, {})
    assert first.energy_source == "telemetry" and first.energy_kwh == pytest.approx(612.437 * 60 / 3.6e6)
    later = usage.accrue(cluster, 1, 60, readings, {GPU0: 4187263391 - 7.2e9})  # 7.2e9 mJ = 2 kWh since the last poll
    assert later.energy_kwh == pytest.approx(2.0) and later.counters == {GPU0: 4187263391.0}
    reset = usage.accrue(cluster, 1, 60, readings, {GPU0: 9e12})  # counter went backwards: a restart
    assert reset.energy_kwh == pytest.approx(4187263391 / 3.6e9)


@pytest.fixture
def budgeted(db, reference_data, actor_context, project, member, owner):
    owner.email = "olga@example.org"
    owner.save(update_fields=["email"])
    cluster = make_cluster(price_per_gpu_hour=Decimal("10"))
    usage.set_budget(project, amount=Decimal("100"), gpu_hours_limit=Decimal("50"), energy_kwh_limit=Decimal("1000"),
                     warn_percent=50, hard_percent=90, period_start=timezone.now() - dt.timedelta(days=3))
    return cluster


def _spend(job, cluster, hours: float, at: dt.datetime | None = None) -> None:
    UsageRecord.objects.get_or_create(job=job, defaults={"project": job.project, "cluster": cluster, "backend": "local", "gpus": job.gpus})
    UsageSample.objects.create(job=job, project=job.project, cluster=cluster, at=at or timezone.now(), gpu_hours=hours,
                               energy_kwh=hours * 0.7, cost=Decimal(str(hours)) * cluster.price_per_gpu_hour)


@pytest.mark.django_db
def test_budget_thresholds_warn_once_then_stop_running_jobs(budgeted, project, member, django_capture_on_commit_callbacks, settings):
    cluster = budgeted
    running = make_job(project, member, cluster, state=JobState.APPROVED)
    Job.objects.filter(pk=running.pk).update(state=JobState.RUNNING, scheduler_job_id="x")
    _spend(running, cluster, 6)  # 60 of 100 EUR: over the warning threshold (50%)
    assert usage.budget_status(project.pk).level == "warn"
    with django_capture_on_commit_callbacks():
        assert monitor.enforce_budget(project.pk) == 0
        assert monitor.enforce_budget(project.pk) == 0  # warned once
    [warning] = Notification.objects.filter(kind="budget_warning")
    assert "Spend 60.00 of 100.00 EUR (60%)" in warning.body
    _spend(running, cluster, 3.5)  # 95 EUR: past the hard threshold (90%)
    with django_capture_on_commit_callbacks() as callbacks:
        assert monitor.enforce_budget(project.pk) == 1
    running.refresh_from_db()
    assert running.state == JobState.CANCEL_REQUESTED and "hard budget is exceeded" in running.state_reason
    assert Notification.objects.filter(kind="budget_exceeded").count() == 1
    assert Notification.objects.get(kind="guardrail_cancel").user == member
    assert len(callbacks) >= 2  # the cancel task and the emails are queued after commit
    assert BudgetLimits.objects.get().exceeded_at is not None


@pytest.mark.django_db
def test_refused_at_dispatch_when_the_budget_is_exhausted(budgeted, project, member):
    from apps.dispatch import services

    cluster = budgeted
    spent = make_job(project, member, cluster, state=JobState.SUBMITTED)
    _spend(spent, cluster, 9.5)
    job = make_job(project, member, cluster)
    assert services.dispatch(job.pk) == "refused"
    job.refresh_from_db()
    assert job.state == JobState.DENIED and "budget is exhausted" in job.state_reason


@pytest.mark.django_db
def test_email_goes_to_the_accountable_person(budgeted, project, member, pipeline, settings):
    from apps.dispatch import notifications

    member.email = "milan@example.org"
    member.save(update_fields=["email"])
    account, _ = pipeline
    note = notifications.notify(account, "guardrail_cancel", "Job #1 is being stopped", "because of a test")
    assert note.user == member  # a service account answers through its owner
    assert notifications.send_email(note.pk) and not notifications.send_email(note.pk)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["milan@example.org"] and "[govhub] Job #1" in mail.outbox[0].subject


@pytest.mark.django_db
def test_burn_down_and_forecast(budgeted, project, member):
    cluster = budgeted
    job = make_job(project, member, cluster, state=JobState.SUBMITTED)
    now = timezone.now()
    for day in (2, 1):
        _spend(job, cluster, 1, at=now - dt.timedelta(days=day))  # 10 EUR a day
    status = usage.budget_status(project.pk)
    chart = usage.burn_down(status, now)
    assert chart.dimension.name == "money" and chart.points[0][1] == 100 and chart.points[-1][1] == pytest.approx(80)
    assert chart.rate_per_day == pytest.approx(20 / 3, rel=0.01)  # the window is the 3 days since the period began
    assert chart.runs_out_at == pytest.approx(now + dt.timedelta(days=80 / (20 / 3)), abs=dt.timedelta(minutes=5))
    from apps.dispatch.charts import burn_down_svg

    svg = str(burn_down_svg(chart, now))
    assert svg.startswith("<svg") and 'class="forecast"' in svg and "runs out on" in svg
