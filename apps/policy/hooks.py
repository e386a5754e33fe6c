"""How policy hears about changes elsewhere: job submissions (the jobs app's ``SUBMIT_HOOKS``) and
consent withdrawal and expiry (the catalog's ``CONSENT_CHANGE_HOOKS``). Residency and other
constraint changes are picked up by the ``policy.watch_constraints`` beat task from the lineage
app's recomputed rows."""

from __future__ import annotations

from .guardrail import POLICY_FLAG_HOOKS  # noqa: F401 - re-exported: dispatch hooks its guardrail cancels here


def on_consent_change(consent_id: int) -> None:
    """Called after a consent was withdrawn or expired (and the change committed)."""
    from workers.policy_tasks import reevaluate_for_consent

    reevaluate_for_consent.delay(consent_id)


def on_submit(job_id: int) -> None:
    from workers.policy_tasks import enqueue_admission

    enqueue_admission(job_id)


def connect() -> None:
    from apps.catalog import services as catalog
    from apps.jobs import services as jobs

    if on_consent_change not in catalog.CONSENT_CHANGE_HOOKS:
        catalog.CONSENT_CHANGE_HOOKS.append(on_consent_change)
    if on_submit not in jobs.SUBMIT_HOOKS:
        jobs.SUBMIT_HOOKS.append(on_submit)
