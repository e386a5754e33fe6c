"""Imported by Celery's autodiscovery (``app.autodiscover_tasks(["workers"])``)."""

from .catalog_tasks import expire_consents, reinfer_residency  # noqa: F401
from .dispatch_tasks import (  # noqa: F401
    cancel_on_scheduler,
    confirm_stop,
    dispatch_job,
    email_notification,
    enforce_consent,
    enforce_policy_flag,
    monitor_clusters,
    reconcile,
)
from .lineage_tasks import recompute_all, recompute_constraints, recompute_for_consent  # noqa: F401
from .policy_tasks import (  # noqa: F401
    evaluate_job,
    reap_stuck_jobs,
    reevaluate_for_consent,
    reevaluate_jobs,
    reevaluate_live_jobs,
    run_whatif,
    watch_constraints,
)
