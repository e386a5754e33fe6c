from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from apps.core.permissions import RestrictedQuerySet

purpose_validator = RegexValidator(
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", "Use dotted lowercase codes, e.g. research.medical."
)


class Purpose(models.Model):
    """A node of the purpose taxonomy. Hierarchy is in the code: ``research`` covers
    ``research.medical`` and everything below it."""

    code = models.CharField(max_length=100, primary_key=True, validators=[purpose_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def parent_code(self) -> str | None:
        return self.code.rsplit(".", 1)[0] if "." in self.code else None

    @property
    def depth(self) -> int:
        return self.code.count(".")


def purpose_covers(allowed: str, wanted: str) -> bool:
    """Does consent for ``allowed`` cover processing for ``wanted``?"""
    return wanted == allowed or wanted.startswith(allowed + ".")


def purposes_cover(allowed: list[str] | set[str], wanted: str) -> bool:
    return any(purpose_covers(a, wanted) for a in allowed)
