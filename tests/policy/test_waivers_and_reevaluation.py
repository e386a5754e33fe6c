"""Waivers inside the decision (visible, scoped, expiring), continuous evaluation (consent withdrawn,
policy activated, running jobs flagged for the guardrail), the reaper, what-if and dry runs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.catalog import services as catalog
from apps.core.sod import SeparationOfDutiesError
from apps.jobs.models import Job, JobState
from apps.jobs.services import transition
from apps.policy import services
from apps.policy.guardrail import POLICY_FLAG_HOOKS
from apps.policy.services import whatif
from tests.policy.fixtures import SMOKE_TEST, admit

pytestmark = pytest.mark.django_db


def in_days(n):
    return timezone.now() + dt.timedelta(days=n)


def test_waiver_needs_an_expiry_a_ticket_and_another_approver(publish, member, compliance, project):
    policy = publish("classification").policy
    with pytest.raises(ValidationError) as err:
        services.request_waiver(member, {"policy": policy, "project": project, "justification": "", "ticket": "",
                                         "expires_at": timezone.now() - dt.timedelta(days=1)})
    assert {"expires_at", "justification", "ticket"} <= set(err.value.message_dict)
    waiver = services.request_waiver(compliance, {"policy": policy, "project": project, "justification": "Pilot",
                                                  "ticket": "CHG-1", "expires_at": in_days(30)})
    with pytest.raises(SeparationOfDutiesError):
        services.approve_waiver(waiver, compliance)


def test_waived_violation_stays_visible_and_the_job_passes(publish, member, second_officer, clusters, budget, eu_dataset, project,
                                                           submit):
    policy = publish("classification").policy
    denied = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    assert denied.state == "denied"
    waiver = services.request_waiver(member, {"policy": policy, "project": project, "scope": {"assets": [eu_dataset.pk]},
                                              "justification": "Synthetic copy for a demo", "ticket": "RISK-7",
                                              "expires_at": in_days(7)})
    services.approve_waiver(waiver, second_officer)
    job = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    [v] = job.last_decision.violations
    assert job.state == "approved" and v["waived"] and v["waiver_id"] == waiver.pk and v["policy"] == "classification"
    assert "1 waived" in job.state_reason


def test_expired_waiver_no_longer_applies(publish, member, second_officer, clusters, budget, eu_dataset, project, submit):
    from apps.policy.models import Waiver

    policy = publish("classification").policy
    waiver = services.request_waiver(member, {"policy": policy, "project": project, "justification": "x", "ticket": "T-1",
                                              "expires_at": in_days(1)})
    services.approve_waiver(waiver, second_officer)
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    services.ruleset.changed()
    job = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    assert job.state == "denied" and not job.last_decision.violations[0]["waived"]


def test_consent_withdrawal_denies_approved_jobs_and_flags_running_ones(publish, clusters, budget, eu_dataset, submit, actor_context):
    publish("consent")
    POLICY_FLAG_HOOKS.append(lambda *args: None)
    try:
        approved = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
        running = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
        assert approved.state == running.state == "approved"
        for to in (JobState.DISPATCHING, JobState.RUNNING):
            assert transition(running.pk, running.state if to == JobState.DISPATCHING else JobState.DISPATCHING, to, "test")
        catalog.withdraw_consent(eu_dataset.consent, reason="Ethics board revoked it.")
        from workers.policy_tasks import reevaluate_for_consent

        outcome = reevaluate_for_consent(eu_dataset.consent_id)
        assert outcome == {"denied": 1, "flagged": 1}
        approved.refresh_from_db()
        running.refresh_from_db()
        assert approved.state == "denied" and "withdrawn" in approved.state_reason
        assert running.state == "running" and running.flagged_at is not None and "consent: " in running.guardrail_violation
    finally:
        POLICY_FLAG_HOOKS.pop()


def test_flag_hook_runs_after_commit(publish, clusters, budget, eu_dataset, submit, django_capture_on_commit_callbacks):
    from apps.policy.guardrail import check_running_job

    publish("consent")
    calls = []
    POLICY_FLAG_HOOKS.append(lambda *args: calls.append(args))
    try:
        job = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
        transition(job.pk, JobState.APPROVED, JobState.DISPATCHING, "t")
        transition(job.pk, JobState.DISPATCHING, JobState.RUNNING, "t")
        assert check_running_job(job.pk).status == "compliant"
        catalog.withdraw_consent(eu_dataset.consent, reason="Withdrawn.")
        with django_capture_on_commit_callbacks(execute=True):
            result = check_running_job(job.pk)
        assert result.status == "flagged" and result.must_stop
        assert calls and calls[0][0] == job.pk and "withdrawn" in calls[0][2]
        assert check_running_job(job.pk).status == "still_flagged"
    finally:
        POLICY_FLAG_HOOKS.pop()


def test_activating_a_stricter_version_reevaluates_approved_jobs(publish, compliance, second_officer, clusters, budget,
                                                                 eu_dataset, submit):
    v1 = publish("gpu_quota", params={"default_max_gpus": 64})
    job = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=16))
    assert job.state == "approved"
    v2 = services.update_draft(services.new_draft(v1.policy, compliance), {"params": {"default_max_gpus": 8}})
    services.activate(services.submit_for_review(v2, compliance), second_officer)
    from workers.policy_tasks import reevaluate_live_jobs

    assert reevaluate_live_jobs("test") == {"denied": 1}
    job.refresh_from_db()
    assert job.state == "denied" and "quota is 8" in job.state_reason
    assert reevaluate_live_jobs("again") == {}  # denied jobs are not live any more


def test_reevaluation_without_changes_writes_nothing(publish, clusters, budget, eu_dataset, submit):
    publish("residency")
    job = admit(submit([eu_dataset], target_cluster=clusters["fra"]))
    assert services.reevaluate(job.pk) == "unchanged"
    assert job.decisions.count() == 1


def test_reaper_hands_back_jobs_whose_worker_died(clusters, eu_dataset, submit, django_capture_on_commit_callbacks):
    from workers import policy_tasks

    job = submit([eu_dataset])
    assert transition(job.pk, JobState.SUBMITTED, JobState.EVALUATING, "worker picked it up", evaluation_attempts=1)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    queued = []
    original = policy_tasks.evaluate_job.delay
    policy_tasks.evaluate_job.delay = lambda pk: queued.append(pk)
    try:
        assert policy_tasks.reap_stuck_jobs() == 1
    finally:
        policy_tasks.evaluate_job.delay = original
    job.refresh_from_db()
    assert job.state == "submitted" and "worker lost" in job.state_reason and job.pk in queued


def test_a_job_that_keeps_killing_workers_is_denied(clusters, eu_dataset, submit):
    job = submit([eu_dataset])
    Job.objects.filter(pk=job.pk).update(evaluation_attempts=3)
    job = admit(job)
    assert job.state == "denied" and "interrupted" in job.state_reason


def test_whatif_reports_which_past_decisions_would_change(publish, compliance, clusters, budget, eu_dataset, make_dataset,
                                                          project, submit):
    v1 = publish("gpu_quota", params={"default_max_gpus": 64})
    small = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=2))
    big = admit(submit([make_dataset(name="bulk")], target_cluster=clusters["fra"], gpus=32))
    assert small.state == big.state == "approved"
    stricter = services.update_draft(services.new_draft(v1.policy, compliance), {"params": {"default_max_gpus": 16}})
    report = whatif.replay(stricter, days=30)
    assert report["replayed"] == 2 and report["changed"] == 1
    assert report["transitions"] == {"allow → deny": 1} and report["by_project"] == {"health": 1}
    [sample] = report["samples"]
    assert sample["job_id"] == big.pk and "quota is 16" in sample["added"][0]


def test_whatif_judges_past_jobs_under_the_waivers_of_their_time(publish, member, second_officer, compliance, clusters, budget,
                                                                   eu_dataset, project, submit):
    from apps.policy.models import Waiver

    v1 = publish("classification")
    waiver = services.request_waiver(member, {"policy": v1.policy, "project": project, "scope": {"assets": [eu_dataset.pk]},
                                              "justification": "Synthetic copy for a demo", "ticket": "RISK-9",
                                              "expires_at": in_days(7)})
    services.approve_waiver(waiver, second_officer)
    job = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    assert job.state == "approved" and job.last_decision.violations[0]["waived"]
    # The waiver has lapsed since (it expired just after that decision): the same rule, replayed,
    # must not report the old decision as "would change" — the version did not change anything.
    Waiver.objects.filter(pk=waiver.pk).update(expires_at=job.last_decision.created_at + dt.timedelta(milliseconds=1))
    same = services.new_draft(v1.policy, compliance)
    report = whatif.replay(same, days=30)
    assert report["replayed"] == 1 and report["changed"] == 0
    # A job decided after the lapse is judged without the waiver, then as now.
    services.ruleset.changed()
    later = admit(submit([eu_dataset], target_cluster=clusters["virginia"]))
    assert later.state == "denied"
    assert whatif.replay(same, days=30)["changed"] == 0


def test_dry_run_version_is_evaluated_on_live_jobs_without_enforcing(publish, compliance, clusters, budget, eu_dataset, submit):
    v1 = publish("gpu_quota", params={"default_max_gpus": 64})
    candidate = services.update_draft(services.new_draft(v1.policy, compliance), {"params": {"default_max_gpus": 1}})
    candidate = services.set_dry_run(services.submit_for_review(candidate, compliance), True)
    job = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=2))
    assert job.state == "approved"
    [shadow] = job.last_decision.shadow
    assert shadow["version_id"] == candidate.pk and shadow["outcome"] == "deny" and shadow["changed"]


def test_smoke_test_constant_is_a_valid_test():
    from apps.policy.services.testing import validate_tests

    assert validate_tests(SMOKE_TEST) == SMOKE_TEST


def test_residency_change_is_picked_up_by_the_constraint_watcher(publish, clusters, budget, make_dataset, submit, actor_context):
    from django.core.cache import cache as shared

    from apps.catalog.models import Jurisdiction
    from workers import policy_tasks

    publish("residency")
    data = make_dataset(name="moving", storage_jurisdiction=Jurisdiction.objects.get(code="DE"), processing_jurisdictions=["EU"])
    job = admit(submit([data], target_cluster=clusters["fra"]))
    assert job.state == "approved"
    shared.set(policy_tasks.WATERMARK, (timezone.now() - dt.timedelta(seconds=1)).isoformat(), None)
    catalog.update_asset(data, {"processing_jurisdictions": ["FR"]})  # steward narrows it: DE is out
    from apps.policy import facts

    facts.refresh_constraints([data.pk])  # what the lineage task does after the change commits
    assert policy_tasks.watch_constraints() == 1
    job.refresh_from_db()
    assert job.state == "denied" and "may be processed only in FR" in job.state_reason


def test_remaining_budget_counts_committed_jobs_only(publish, clusters, budget, eu_dataset, submit, project):
    from decimal import Decimal

    from apps.policy.facts import active_gpus, remaining_budget

    publish("residency")
    assert remaining_budget(project) == (Decimal("10000.00"), "EUR")
    approved = admit(submit([eu_dataset], target_cluster=clusters["fra"], gpus=4))  # 4 × 10 h × 2.90
    denied = admit(submit([eu_dataset], target_cluster=clusters["tokyo"], gpus=4))
    assert approved.state == "approved" and denied.state == "denied"
    assert remaining_budget(project) == (Decimal("9884.00"), "EUR") and active_gpus(project) == 4
    assert remaining_budget(project, exclude_job_id=approved.pk) == (Decimal("10000.00"), "EUR")
