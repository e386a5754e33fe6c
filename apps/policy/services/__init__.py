"""Policy services. Views, viewsets and tasks call these; each write is audited in its transaction."""

from ..guardrail import POLICY_FLAG_HOOKS, check_running_job
from .admission import admit, reevaluate
from .decide import decide as decide_serving
from .versions import (
    activate,
    create_policy,
    delete_draft,
    new_draft,
    retire,
    set_dry_run,
    submit_for_review,
    update_draft,
    update_policy,
)
from .waivers import approve_waiver, reject_waiver, request_waiver, revoke_waiver

__all__ = [
    "POLICY_FLAG_HOOKS", "activate", "admit", "approve_waiver", "check_running_job", "create_policy", "decide_serving",
    "delete_draft", "new_draft", "reevaluate",
    "reject_waiver", "request_waiver", "retire", "revoke_waiver", "set_dry_run", "submit_for_review", "update_draft",
    "update_policy",
]
