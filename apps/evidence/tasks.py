"""Evidence tasks. ``build_export`` takes an id and starts only a PENDING export (compare-and-
swap), so a duplicate delivery does nothing; it is not acks_late, because a half-built bundle is
not resumed but reported: ``housekeeping`` fails an export whose worker stopped showing progress
(the requester asks again), requeues one whose queue message was lost, and expires bundles past
their retention."""

from __future__ import annotations

from celery import shared_task

from apps.core import context


@shared_task(name="evidence.build_export", ignore_result=True)
def build_export(export_id: str) -> str:
    from . import services

    with context.acting_as(context.Actor(user_id=None, label="system:build_export", kind="system")):
        export = services.run(export_id)
    return export.state if export else "skipped"


@shared_task(name="evidence.housekeeping", ignore_result=True)
def housekeeping() -> dict[str, int]:
    """Fail exports whose worker died, requeue lost ones, expire bundles past their retention."""
    from . import services

    with context.acting_as(context.Actor(user_id=None, label="system:evidence-housekeeping", kind="system")):
        return services.reap_exports()
