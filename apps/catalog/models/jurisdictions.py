from __future__ import annotations

import fnmatch
import re

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from apps.core.permissions import RestrictedQuerySet


class JurisdictionKind(models.TextChoices):
    COUNTRY = "country", "Country (ISO 3166-1)"
    BLOC = "bloc", "Bloc (e.g. EU, EEA)"


code_validator = RegexValidator(r"^[A-Z]{2,8}$", "Use an ISO 3166-1 alpha-2 code (DE) or a bloc code (EU).")


class Jurisdiction(models.Model):
    """A country (ISO 3166-1 alpha-2) or a bloc of countries (EU, EEA, GCC). A bloc stands for
    its member countries wherever processing is allowed."""

    code = models.CharField(max_length=8, primary_key=True, validators=[code_validator])
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=JurisdictionKind.choices, default=JurisdictionKind.COUNTRY)
    members = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="blocs")

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def clean(self) -> None:
        if self.kind == JurisdictionKind.COUNTRY and len(self.code) != 2:
            raise ValidationError({"code": "A country code has two letters (ISO 3166-1 alpha-2)."})


def expand_codes(codes: list[str] | set[str]) -> set[str]:
    """Country codes a set of jurisdiction codes stands for (blocs replaced by members)."""
    codes = set(codes)
    if not codes:
        return set()
    blocs = {
        code: set(members)
        for code, members in _bloc_members().items()
        if code in codes
    }
    result = codes - set(blocs)
    for members in blocs.values():
        result |= members
    return result


def _bloc_members() -> dict[str, list[str]]:
    from django.core.cache import cache

    members = cache.get("catalog:bloc_members")
    if members is None:
        members = {}
        for bloc, member in Jurisdiction.members.through.objects.values_list("from_jurisdiction_id", "to_jurisdiction_id"):
            members.setdefault(bloc, []).append(member)
        cache.set("catalog:bloc_members", members, 300)
    return members


def invalidate_jurisdiction_cache() -> None:
    from django.core.cache import cache

    cache.delete("catalog:bloc_members")


pattern_validator = RegexValidator(r"^[^\s]+$", "A pattern has no spaces.")


class NamespaceRule(models.Model):
    """Maps storage locations to a jurisdiction, so an asset seen for the first time gets a
    residency: ``s3://acme-eu-*`` → EU, ``postgres://db.fra.internal:5432`` → DE.

    Patterns are shell-style globs matched against ``namespace`` or ``namespace/name``; the
    highest priority, then the longest pattern, wins.
    """

    pattern = models.CharField(max_length=300, unique=True, validators=[pattern_validator])
    jurisdiction = models.ForeignKey(Jurisdiction, on_delete=models.PROTECT, related_name="namespace_rules")
    processing_jurisdictions = ArrayField(
        models.CharField(max_length=8), default=list, blank=True,
        help_text="Where assets under this namespace may be processed; empty means only the storage jurisdiction.",
    )
    priority = models.IntegerField(default=0)
    description = models.CharField(max_length=300, blank=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["-priority", "pattern"]

    def __str__(self) -> str:
        return f"{self.pattern} → {self.jurisdiction_id}"

    def matches(self, namespace: str, name: str = "") -> bool:
        regex = re.compile(fnmatch.translate(self.pattern), re.IGNORECASE)
        candidates = [namespace, f"{namespace.rstrip('/')}/{name.lstrip('/')}"] if name else [namespace]
        return any(regex.match(c) for c in candidates)


def resolve_namespace(namespace: str, name: str = "") -> NamespaceRule | None:
    """The rule that decides residency for a location, or None: residency is then unknown."""
    rules = sorted(
        NamespaceRule.objects.select_related("jurisdiction"),
        key=lambda r: (-r.priority, -len(r.pattern)),
    )
    for rule in rules:
        if rule.matches(namespace, name):
            return rule
    return None
