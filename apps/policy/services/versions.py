"""Policies and their versions: draft → review → active → retired. Content freezes when a draft
goes to review (a database trigger holds it frozen); activation needs passing tests and an approver
who is not the author; activating re-evaluates queued, approved and running jobs."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.core import services as core
from apps.core.sod import ensure_separate

from ..models import CONTENT_FIELDS, Policy, PolicyVersion, VersionState
from ..rules import TEMPLATES
from . import ruleset
from .content import clean_content, content_digest
from .testing import run_tests


def _defaults(template: str) -> dict[str, Any]:
    from ..rules.rego import EXAMPLE

    params = {p.name: p.default for p in TEMPLATES[template].params}
    return {"params": params, "rego_source": EXAMPLE if template == "rego" else ""}


def create_policy(author: Any, fields: dict[str, Any], content: dict[str, Any] | None = None) -> PolicyVersion:
    """A new policy and its first draft version."""
    template = fields.get("template", "")
    if template not in TEMPLATES:
        raise ValidationError({"template": f"Choose one of {', '.join(TEMPLATES)}."})
    content = {**_defaults(template), "action": "deny", "scope": {}, "tests": [], **(content or {})}
    content = clean_content(template, content)
    with transaction.atomic():
        policy = core.create(Policy, {**fields, "owner": author})
        version = core.create(PolicyVersion, {"policy": policy, "number": 1, "authored_by": author, **content})
    return version


def update_policy(policy: Policy, fields: dict[str, Any], *, if_match: str | None = None) -> Policy:
    if "template" in fields and fields["template"] != policy.template:
        raise ValidationError({"template": "A policy keeps its template; create a new policy instead."})
    return core.update(policy, {k: v for k, v in fields.items() if k in ("name", "description")}, if_match=if_match)


def update_draft(version: PolicyVersion, fields: dict[str, Any], *, if_match: str | None = None) -> PolicyVersion:
    if version.state != VersionState.DRAFT:
        raise ValidationError({"state": f"Version {version.number} is {version.state}: published versions never change. "
                                        "Start a new draft instead."})
    allowed = {k: v for k, v in fields.items() if k in (*CONTENT_FIELDS, "change_note")}
    return core.update(version, clean_content(version.policy.template, allowed), if_match=if_match)


def new_draft(policy: Policy, author: Any, *, source: PolicyVersion | None = None) -> PolicyVersion:
    """A new draft, copied from ``source`` (default: the newest version)."""
    source = source or policy.versions.order_by("-number").first()
    with transaction.atomic():
        Policy.objects.select_for_update().get(pk=policy.pk)  # numbers are handed out one at a time
        number = (policy.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        content = {k: getattr(source, k) for k in CONTENT_FIELDS} if source else _defaults(policy.template)
        note = f"Copied from v{source.number}." if source else ""
        return core.create(PolicyVersion, {"policy": policy, "number": number, "authored_by": author,
                                           "change_note": note, **content})


def submit_for_review(version: PolicyVersion, actor: Any) -> PolicyVersion:
    if version.state != VersionState.DRAFT:
        raise ValidationError({"state": f"Only a draft goes to review; version {version.number} is {version.state}."})
    clean_content(version.policy.template, {k: getattr(version, k) for k in CONTENT_FIELDS})  # still valid
    return core.update(version, {"state": VersionState.REVIEW, "submitted_at": timezone.now(),
                                 "content_digest": content_digest(version)}, action="policy.policyversion.submit")


def set_dry_run(version: PolicyVersion, enabled: bool) -> PolicyVersion:
    """Evaluate a version in review on live jobs without enforcing it (or stop doing so)."""
    if version.state != VersionState.REVIEW:
        raise ValidationError({"shadow": "Only a version in review can run as a dry run on live jobs."})
    with transaction.atomic():
        updated = core.update(version, {"shadow": enabled}, action="policy.policyversion.dry_run")
        ruleset.changed()
    return updated


def activate(version: PolicyVersion, approver: Any, *, note: str = "") -> PolicyVersion:
    """Review → active: the approver is not the author, the tests pass on this exact content, and
    the previously active version of the policy retires in the same transaction."""
    if version.state != VersionState.REVIEW:
        raise ValidationError({"state": f"Only a version in review can be activated; version {version.number} is {version.state}."})
    ensure_separate(version.authored_by, approver, f"{version}")
    run = run_tests(version)
    if not run.passed:
        failed = ", ".join(r["name"] for r in run.results if not r["passed"])
        raise ValidationError({"tests": f"The version's tests must pass before activation; failing: {failed}."})
    with transaction.atomic():
        Policy.objects.select_for_update().get(pk=version.policy_id)
        for previous in version.policy.versions.filter(state=VersionState.ACTIVE).exclude(pk=version.pk):
            core.update(previous, {"state": VersionState.RETIRED, "retired_at": timezone.now(), "shadow": False},
                        action="policy.policyversion.retire", extra={"replaced_by": version.pk})
        activated = core.update(version, {"state": VersionState.ACTIVE, "activated_at": timezone.now(), "approved_by": approver,
                                          "shadow": False}, action="policy.policyversion.activate",
                                extra={"note": note, "test_run": run.pk})
        ruleset.changed()
        transaction.on_commit(lambda: _reevaluate_live(f"{version} activated"))
    return activated


def retire(version: PolicyVersion, actor: Any, *, note: str = "") -> PolicyVersion:
    if version.state not in (VersionState.ACTIVE, VersionState.REVIEW):
        raise ValidationError({"state": f"Version {version.number} is {version.state} and cannot be retired."})
    was_active = version.state == VersionState.ACTIVE
    with transaction.atomic():
        retired = core.update(version, {"state": VersionState.RETIRED, "retired_at": timezone.now(), "shadow": False},
                              action="policy.policyversion.retire", extra={"note": note})
        ruleset.changed()
        if was_active:
            transaction.on_commit(lambda: _reevaluate_live(f"{version} retired"))
    return retired


def delete_draft(version: PolicyVersion) -> None:
    if version.state != VersionState.DRAFT:
        raise ValidationError({"state": "Only drafts can be deleted; published versions stay for the record."})
    core.delete(version)


def _reevaluate_live(reason: str) -> None:
    from workers.policy_tasks import reevaluate_live_jobs

    reevaluate_live_jobs.delay(reason)
