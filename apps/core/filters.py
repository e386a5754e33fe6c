import django_filters as df


class CodeFilterMixin:
    """Jurisdiction codes are stored upper-case; accept any case from callers."""

    def filter_code(self, qs, name, value):
        return qs.filter(**{name: value.upper()})


__all__ = ["CodeFilterMixin", "df"]
