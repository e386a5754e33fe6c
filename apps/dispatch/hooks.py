"""Where dispatch hangs on the rest of govhub: job transitions (an approved job is dispatched),
consent changes (jobs using the data are stopped) and the policy engine's flags on running jobs."""

from __future__ import annotations

from apps.jobs.models import JobState


def on_transition(job_id: int, from_state: str, to_state: str) -> None:
    """Runs after the transition committed (apps.jobs.services.TRANSITION_HOOKS)."""
    if to_state == JobState.APPROVED:
        from workers.dispatch_tasks import dispatch_job

        dispatch_job.delay(job_id)


def on_consent_change(consent_id: int) -> None:
    """Runs after a consent was withdrawn or expired (apps.catalog.services.CONSENT_CHANGE_HOOKS)."""
    from workers.dispatch_tasks import enforce_consent

    enforce_consent.delay(consent_id)


def on_policy_flag(job_id: int, decision_id: int | None = None, violation: str = "") -> None:
    """Runs after the policy engine flagged a job on a cluster (``Job.guardrail_violation``;
    apps.policy.guardrail.POLICY_FLAG_HOOKS). The monitor beat reads the flag on every poll too."""
    from workers.dispatch_tasks import enforce_policy_flag

    enforce_policy_flag.delay(job_id)


def register() -> None:
    from apps.catalog import services as catalog
    from apps.jobs import services as jobs
    from apps.policy.hooks import POLICY_FLAG_HOOKS

    if on_transition not in jobs.TRANSITION_HOOKS:
        jobs.TRANSITION_HOOKS.append(on_transition)
    if on_consent_change not in catalog.CONSENT_CHANGE_HOOKS:
        catalog.CONSENT_CHANGE_HOOKS.append(on_consent_change)
    if on_policy_flag not in POLICY_FLAG_HOOKS:
        POLICY_FLAG_HOOKS.append(on_policy_flag)
