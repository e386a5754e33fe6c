"""Roles and what each may do: the single table every permission check reads.

A permission is ``"<app_label>.<action>_<model_name>"`` (Django's convention) or a named
capability such as ``"audit.export"``. Roles are granted per project (Membership) or across the
organisation (``User.org_role``). Global reference data (jurisdictions, purposes, namespace rules,
clusters) has no project; only org-wide roles can change it.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", "Administrator"
    COMPLIANCE_OFFICER = "compliance_officer", "Compliance officer"
    DATA_STEWARD = "data_steward", "Data steward"
    ML_ENGINEER = "ml_engineer", "ML engineer"
    AUDITOR = "auditor", "Auditor"


VIEW = "view"
WRITE_ACTIONS = ("add", "change", "delete")

# Models every role may read within its scope.
_READ_ALL = {"*.view_*"}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    Role.ADMINISTRATOR: frozenset({"*"}),
    Role.COMPLIANCE_OFFICER: frozenset(
        _READ_ALL
        | {
            "catalog.change_asset",
            "catalog.add_consentrecord",
            "catalog.change_consentrecord",
            "catalog.withdraw_consentrecord",
            "catalog.add_jurisdiction",
            "catalog.change_jurisdiction",
            "catalog.add_namespacerule",
            "catalog.change_namespacerule",
            "catalog.delete_namespacerule",
            "catalog.add_purpose",
            "catalog.change_purpose",
            "audit.export",
            "accounts.approve",
            # Policy: compliance officers own the policies and approve jobs, waivers and evaluations.
            "policy.add_policy",
            "policy.change_policy",
            "policy.add_policyversion",
            "policy.change_policyversion",
            "policy.approve_policyversion",
            "policy.add_waiver",
            "policy.approve_waiver",
            "policy.add_modelevaluation",
            "policy.approve_modelevaluation",
            "policy.add_budget",
            "policy.change_budget",
            "policy.add_transferrule",
            "policy.delete_transferrule",
            "policy.change_jurisdictionlanguage",
            "jobs.approve_job",
            "jobs.change_job",
            # Dispatch: run-time budget limits (GPU-hours, energy, thresholds, GPU quota).
            "dispatch.add_budgetlimits",
            "dispatch.change_budgetlimits",
        }
    ),
    Role.DATA_STEWARD: frozenset(
        _READ_ALL
        | {
            "catalog.add_asset",
            "catalog.change_asset",
            "catalog.delete_asset",
            "catalog.add_datasetversion",
            "catalog.change_datasetversion",
            "catalog.delete_datasetversion",
            "catalog.add_consentrecord",
            "catalog.change_consentrecord",
            "catalog.withdraw_consentrecord",
            "accounts.add_serviceaccount",
            "accounts.change_serviceaccount",
            "accounts.add_apitoken",
            "accounts.change_apitoken",
            "lineage.add_event",
            "policy.add_waiver",
        }
    ),
    Role.ML_ENGINEER: frozenset(
        _READ_ALL
        | {
            "catalog.add_asset",
            "catalog.change_asset",
            "catalog.add_datasetversion",
            "accounts.add_serviceaccount",
            "accounts.change_serviceaccount",
            "accounts.add_apitoken",
            "accounts.change_apitoken",
            "lineage.add_event",
            # ML engineers and their pipelines submit (and withdraw) jobs, ask for waivers, record evaluations.
            "jobs.add_job",
            "jobs.change_job",
            "policy.add_waiver",
            "policy.add_modelevaluation",
        }
    ),
    Role.AUDITOR: frozenset(_READ_ALL | {"audit.export"}),
}

# Roles that, held org-wide, may change global reference data.
GLOBAL_WRITERS = {Role.ADMINISTRATOR, Role.COMPLIANCE_OFFICER}


def role_grants(role: str, perm: str) -> bool:
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    if "*" in granted or perm in granted:
        return True
    app, _, codename = perm.partition(".")
    action = codename.split("_", 1)[0]
    return action == VIEW and ("*.view_*" in granted or f"{app}.view_*" in granted)
