"""Template helpers for the UI: status badges and accessible form-field rendering."""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.utils import timezone
from django.utils.html import format_html

from apps.catalog.models import Asset, ConsentRecord

register = template.Library()

# Badge colour per value; the label always carries the meaning too (colour is never the only cue).
_BADGE_TONES: dict[str, str] = {
    # classification
    "public": "ok", "internal": "info", "confidential": "warn", "restricted": "danger",
    # consent status (effective)
    "active": "ok", "pending": "info", "expired": "muted", "withdrawn": "danger", "missing": "warn",
    # token status
    "revoked": "danger",
}

_CONSENT_LABELS = {
    "active": "Active", "pending": "Not yet valid", "expired": "Expired", "withdrawn": "Withdrawn",
    "missing": "No consent",
}


@register.simple_tag
def badge(value: str, label: str | None = None) -> str:
    """A small labelled pill; ``tone`` comes from the value so lists stay consistent."""
    tone = _BADGE_TONES.get(str(value), "muted")
    return format_html('<span class="badge badge-{}">{}</span>', tone, label or str(value).replace("_", " ").capitalize())


@register.simple_tag
def classification_badge(asset: Asset) -> str:
    return badge(asset.classification, asset.get_classification_display())


def consent_status_of(obj: Asset | ConsentRecord | None) -> str:
    """Effective consent status: computed from dates, so an expired consent shows as expired
    even before any job flips its stored status."""
    if isinstance(obj, Asset):
        obj = obj.consent if obj.consent_id else None
    if obj is None:
        return "missing"
    return obj.effective_status(timezone.now())


@register.simple_tag
def consent_badge(obj: Asset | ConsentRecord | None) -> str:
    status = consent_status_of(obj)
    return badge(status, _CONSENT_LABELS.get(status, status))


@register.simple_tag
def unknown_badge(text: str = "Unknown") -> str:
    return format_html('<span class="badge badge-warn" title="No policy treats unknown residency as allowed">'
                       '<span aria-hidden="true">⚠ </span>{}</span>', text)


@register.filter
def join_codes(values: list[str] | None) -> str:
    return ", ".join(values or [])


@register.filter
def get_item(mapping: dict | None, key: Any) -> Any:
    return (mapping or {}).get(key)


@register.filter
def change_summary(event: Any) -> str:
    """What an audit event changed, in a few words: a creation lists no fields."""
    if event.before and event.after:
        return ", ".join(event.changed_fields) or "no field changed"
    return "new record" if event.after else "removed" if event.before else "—"


@register.filter
def pretty(value: Any) -> str:
    """Audit values (JSON) in a compact, readable form."""
    if value is None:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "[]"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register.simple_tag
def widget(field: BoundField, **attrs: Any) -> str:
    """Render a field's widget tied to its help text and errors (aria-describedby, aria-invalid),
    so screen readers announce the message next to the input it belongs to."""
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_help")
    if field.errors:
        described.append(f"{field.auto_id}_errors")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)
