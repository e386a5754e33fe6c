from __future__ import annotations

from apps.core.permissions import RestrictedQuerySet


class RestrictedRelatedFieldsMixin:
    """Related fields accept only objects the requesting user may see, so a foreign key can
    never be used to probe or attach another project's data ("Invalid pk" instead)."""

    restricted_fields: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request") if hasattr(self, "context") else None
        if request is None or request.method in ("GET", "HEAD", "OPTIONS"):
            return  # reads never resolve related input; skip the per-request field copies
        user = getattr(request, "user", None)
        for name, action in self.restricted_fields.items():
            field = self.fields.get(name)
            if field is None or field.read_only:
                continue
            target = getattr(field, "child_relation", field)
            qs = target.queryset
            if isinstance(qs, RestrictedQuerySet):
                target.queryset = qs.restrict(user, action)
