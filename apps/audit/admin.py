from django.contrib import admin

from .models import AuditEvent, Checkpoint, SigningKey, VerificationRun


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "occurred_at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor_label", "request_id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Checkpoint)
class CheckpointAdmin(_ReadOnly):
    list_display = ["tree_size", "created_at", "key", "origin"]
    readonly_fields = ["tree_size", "created_at", "key", "origin", "note", "watermark"]
    exclude = ["root_hash"]


@admin.register(SigningKey)
class SigningKeyAdmin(_ReadOnly):
    list_display = ["key_id", "name", "valid_from", "valid_until"]
    readonly_fields = ["key_id", "name", "fingerprint", "valid_from", "valid_until", "created_at"]
    exclude = ["public_key"]


@admin.register(VerificationRun)
class VerificationRunAdmin(_ReadOnly):
    list_display = ["started_at", "finished_at", "ok", "tree_size", "trigger"]
