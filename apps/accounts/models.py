from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.permissions import RestrictedQuerySet
from apps.core.roles import Role


class UserKind(models.TextChoices):
    HUMAN = "human", "Person"
    SERVICE = "service", "Service account"


class GovhubUserManager(UserManager.from_queryset(RestrictedQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    """A person or a non-human identity (pipeline, agent). Service accounts have no password,
    belong to one project, and are owned by a person who answers for them."""

    kind = models.CharField(max_length=16, choices=UserKind.choices, default=UserKind.HUMAN)
    org_role = models.CharField(
        max_length=32, choices=Role.choices, blank=True, default="",
        help_text="A role held across every project (e.g. the organisation's compliance officer).",
    )
    owner = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="service_accounts",
        help_text="The person accountable for this service account.",
    )
    service_project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.PROTECT, related_name="service_accounts",
    )
    description = models.TextField(blank=True)

    objects = GovhubUserManager()
    # Service accounts are scoped to their project; people are listed through memberships.
    project_field = "service_project"

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="service_account_has_owner_and_project",
                condition=Q(kind="human") | (Q(owner__isnull=False) & Q(service_project__isnull=False)),
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.kind == UserKind.SERVICE:
            if self.owner_id is None or self.service_project_id is None:
                raise ValidationError("A service account needs an owner and a project.")
            if self.owner and self.owner.kind != UserKind.HUMAN:
                raise ValidationError({"owner": "A service account must be owned by a person."})

    @property
    def is_service_account(self) -> bool:
        return self.kind == UserKind.SERVICE

    def __str__(self) -> str:
        return self.get_username()


slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9-]{1,62}$", "Use 2-63 lowercase letters, digits and hyphens.")


class Project(models.Model):
    """The unit that owns assets, jobs and budgets."""

    slug = models.SlugField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = "pk"  # a project is its own scope

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="one_role_per_project")]
        ordering = ["project__slug", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} is {self.get_role_display()} in {self.project}"


class TokenScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


TOKEN_PREFIX = "ghb"


def hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash cannot be brute-forced; a slow KDF
    # would only add latency to every API call (see docs/adr/0003-api-tokens.md).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(RestrictedQuerySet):
    def usable(self) -> "ApiTokenQuerySet":
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the raw value is shown once at creation."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()
    project_field = "user__service_project"

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({TOKEN_PREFIX}_{self.key_id}_…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """(raw token, key id, digest)."""
        key_id = secrets.token_hex(6)
        raw = f"{TOKEN_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        return raw, key_id, hash_token(raw)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def touch_interval(self) -> timedelta:
        return timedelta(minutes=1)
