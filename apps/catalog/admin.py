from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .models import Asset, ConsentRecord, DatasetVersion, Jurisdiction, NamespaceRule, Purpose


@admin.register(Asset)
class AssetAdmin(AuditedModelAdmin):
    list_display = ["name", "kind", "project", "classification", "storage_jurisdiction", "residency_source"]
    list_filter = ["kind", "classification", "residency_source"]
    search_fields = ["name", "namespace"]
    raw_id_fields = ["base_model", "consent", "owner"]
    filter_horizontal = ["training_datasets"]
    readonly_fields = ["version"]


@admin.register(ConsentRecord)
class ConsentAdmin(AuditedModelAdmin):
    list_display = ["reference", "project", "legal_basis", "status", "valid_until"]
    list_filter = ["legal_basis", "status"]
    readonly_fields = ["version"]


for model in (DatasetVersion, Jurisdiction, NamespaceRule, Purpose):
    admin.site.register(model, AuditedModelAdmin)
