from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin

from .models import AuditEvent, Checkpoint, SigningKey, VerificationRun


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "actor_label", "action", "object_type", "object_id"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor_label", "request_id"]
    readonly_fields = [f.name for f in AuditEvent._meta.fields]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ["tree_size", "created_at", "key", "origin"]
    readonly_fields = ["tree_size", "created_at", "key", "origin", "note", "watermark"]
    exclude = ["root_hash"]


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "name", "valid_from", "valid_until"]
    readonly_fields = ["key_id", "name", "fingerprint", "valid_from", "valid_until", "created_at"]
    exclude = ["public_key"]


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "finished_at", "ok", "tree_size", "trigger"]
