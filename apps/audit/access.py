"""Who may read the ledger: ``audit.view_ledger`` (every role's ``*.view_*``). Org-wide roles
(auditor, compliance officer, administrator) read everything; project members read proofs for
their own projects' events only. Checkpoints, keys and consistency proofs name no event, so any
holder of the permission anywhere may read them."""

from __future__ import annotations

from typing import Any

from apps.core.permissions import ALL, projects_with_perm

LEDGER_PERM = "audit.view_ledger"
EXPORT_PERM = "audit.export"


def ledger_scope(user: Any) -> str | set[int]:
    return projects_with_perm(user, LEDGER_PERM)


def can_read_ledger(user: Any) -> bool:
    scope = ledger_scope(user)
    return scope == ALL or bool(scope)


def may_see_event(user: Any, project_id: int | None) -> bool:
    scope = ledger_scope(user)
    if scope == ALL:
        return True
    return project_id is not None and project_id in scope
