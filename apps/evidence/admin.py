from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin

from .models import Export


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    """Read-only: exports are requested through the evidence page, the API or export_audit (audited)."""

    list_display = ["id", "requested_at", "requested_label", "state", "events_in_scope", "tree_size"]
    list_filter = ["state"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Export._meta.fields]
