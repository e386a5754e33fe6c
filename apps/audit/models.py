from django.db import models

from apps.core.permissions import RestrictedQuerySet


class AuditEventQuerySet(RestrictedQuerySet):
    def for_object(self, obj: models.Model) -> "AuditEventQuerySet":
        return self.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk))


class AuditEvent(models.Model):
    """One recorded change or decision. Append-only: the database itself refuses UPDATE and
    DELETE (trigger in migration 0002), so not even a bug in govhub can rewrite history.

    Actor and project are plain values, not foreign keys: history must outlive the rows it
    talks about, and a cascading delete or SET NULL would be an UPDATE of the ledger.
    """

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_label = models.CharField(max_length=200)
    actor_kind = models.CharField(max_length=16)
    request_id = models.CharField(max_length=64, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True)
    project_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()
    project_field = "project"

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

    @property
    def changed_fields(self) -> list[str]:
        before, after = self.before or {}, self.after or {}
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
