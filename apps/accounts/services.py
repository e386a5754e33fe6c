"""Accounts, projects, memberships, service accounts and tokens: every write audited."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps import audit
from apps.core import services as core
from apps.core.permissions import reset_cache
from apps.core.roles import Role

from .models import ApiToken, Membership, Project, TokenScope, User, UserKind

MAX_TOKEN_DAYS = 366


def create_project(fields: dict[str, Any], *, creator: User | None = None, creator_role: str = Role.ADMINISTRATOR) -> Project:
    with transaction.atomic():
        project = core.create(Project, fields)
        if creator is not None and not creator.org_role and not creator.is_superuser:
            set_membership(creator, project, creator_role)
        return project


def update_project(project: Project, fields: dict[str, Any], *, if_match: str | None = None) -> Project:
    return core.update(project, fields, if_match=if_match)


def set_membership(user: User, project: Project, role: str) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."})
    with transaction.atomic():
        existing = Membership.objects.select_for_update().filter(user=user, project=project).first()
        if existing is None:
            m = core.create(Membership, {"user": user, "project": project, "role": role})
        elif existing.role != role:
            m = core.update(existing, {"role": role})
        else:
            m = existing
    reset_cache(user)
    return m


def remove_membership(membership: Membership) -> None:
    core.delete(membership)
    reset_cache(membership.user)


def create_person(username: str, *, email: str = "", password: str | None = None, org_role: str = "",
                  first_name: str = "", last_name: str = "", is_superuser: bool = False) -> User:
    with transaction.atomic():
        user = User(username=username, email=email, org_role=org_role, first_name=first_name, last_name=last_name,
                    kind=UserKind.HUMAN, is_superuser=is_superuser, is_staff=is_superuser)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean()
        user.save()
        audit.record("accounts.user.create", user, after=audit.snapshot(user))
        return user


def create_service_account(username: str, *, owner: User, project: Project, description: str = "",
                           role: str = Role.ML_ENGINEER) -> User:
    if owner.kind != UserKind.HUMAN:
        raise ValidationError({"owner": "A service account must be owned by a person."})
    _check_delegation(owner, project, role)
    with transaction.atomic():
        account = User(username=username, kind=UserKind.SERVICE, owner=owner, service_project=project,
                       description=description)
        account.set_unusable_password()
        account.full_clean()
        account.save()
        audit.record("accounts.serviceaccount.create", account, after=audit.snapshot(account), project_id=project.pk)
        set_membership(account, project, role)
        return account


def _check_delegation(owner: User, project: Project, role: str) -> None:
    """A person can delegate to a machine only rights they hold themselves in that project."""
    from apps.core.permissions import _role_cache
    from apps.core.roles import ROLE_PERMISSIONS

    org_role, memberships = _role_cache(owner)
    if org_role == Role.ADMINISTRATOR:
        return
    held = ROLE_PERMISSIONS.get(memberships.get(project.pk, ""), frozenset())
    if not ROLE_PERMISSIONS.get(role, frozenset()) <= held:
        raise ValidationError({"role": f"You cannot give a service account the role {role} in {project}: "
                                       "it would hold rights you do not have there."})


def issue_token(account: User, *, name: str, scope: str = TokenScope.READ, expires_in_days: int | None = 90,
                created_by: User | None = None) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never stored or shown again."""
    if scope not in TokenScope.values:
        raise ValidationError({"scope": "Scope must be read or write."})
    if account.kind != UserKind.SERVICE:
        raise ValidationError({"account": "API tokens are issued to service accounts; people sign in."})
    if expires_in_days is not None and not (1 <= expires_in_days <= MAX_TOKEN_DAYS):
        raise ValidationError({"expires_in_days": f"Expiry must be between 1 and {MAX_TOKEN_DAYS} days."})
    if not name.strip():
        raise ValidationError({"name": "Name the token (e.g. the pipeline that uses it)."})
    raw, key_id, digest = ApiToken.generate()
    expires_at = timezone.now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    with transaction.atomic():
        token = ApiToken.objects.create(user=account, name=name.strip(), key_id=key_id, digest=digest, scope=scope,
                                        expires_at=expires_at, created_by=created_by)
        audit.record("accounts.apitoken.create", token, after=audit.snapshot(token))
    return token, raw


def revoke_token(token: ApiToken) -> ApiToken:
    if token.revoked_at:
        return token
    return core.update(token, {"revoked_at": timezone.now()}, action="accounts.apitoken.revoke")


def deactivate_service_account(account: User) -> User:
    with transaction.atomic():
        for token in account.api_tokens.filter(revoked_at__isnull=True):
            revoke_token(token)
        return core.update(account, {"is_active": False}, action="accounts.serviceaccount.deactivate")
