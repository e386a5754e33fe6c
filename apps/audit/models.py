import hashlib

from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.functions import Cast

from apps.core.permissions import RestrictedQuerySet

# The id of the inserting (top-level) transaction: the sequencer takes only events whose
# transaction has certainly ended (docs/adr/0030-merkle-ledger.md).
CURRENT_TXID = Cast(Cast(models.Func(function="pg_current_xact_id"), models.TextField()), models.BigIntegerField())


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
    # Every index costs every append (see Meta): occurred_at is BRIN (rows arrive in time order),
    # action has none (the log filters it by substring, which no b-tree serves), request_id is
    # matched exactly (no LIKE index).
    occurred_at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_label = models.CharField(max_length=200)
    actor_kind = models.CharField(max_length=16)
    request_id = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=300, blank=True)
    project_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    # {path: [subject, pseudonym]}: what stands in the Merkle leaf for each personal value.
    pseudonyms = models.JSONField(default=dict, blank=True)
    txid = models.BigIntegerField(db_default=CURRENT_TXID, editable=False)

    objects = AuditEventQuerySet.as_manager()
    project_field = "project_id"  # a plain value, not a foreign key (history outlives rows)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["txid", "id"], name="audit_event_txid_id_idx"),
            models.Index(fields=["request_id"], name="audit_event_request_idx"),
            BrinIndex(fields=["occurred_at"], name="audit_event_occurred_brin"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.object_type}:{self.object_id} by {self.actor_label}"

    @property
    def changed_fields(self) -> list[str]:
        before, after = self.before or {}, self.after or {}
        return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


class LogEntry(models.Model):
    """Position of an event in the Merkle tree (insert-only; written by the sequencer)."""

    log_index = models.BigIntegerField(primary_key=True)
    event_id = models.BigIntegerField(unique=True)
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        ordering = ["log_index"]
        verbose_name_plural = "log entries"

    def __str__(self) -> str:
        return f"#{self.log_index} → event {self.event_id}"


class TreeNode(models.Model):
    """A complete subtree's hash (level >= 1; level 0 is ``LogEntry.leaf_hash``), so proofs need
    O(log n) reads and extending the tree O(log n) (insert-only)."""

    pk = models.CompositePrimaryKey("level", "idx")
    level = models.SmallIntegerField()
    idx = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    def __str__(self) -> str:
        return f"node {self.level}/{self.idx}"


class SigningKey(models.Model):
    """The public half of a ledger signing key. Private keys never enter the database
    (GOVHUB_LEDGER_KEY_FILE / GOVHUB_LEDGER_KEY); old keys stay here so old checkpoints verify."""

    key_id = models.CharField(max_length=8, unique=True, help_text="Signed-note key id (hex of 4 bytes).")
    name = models.CharField(max_length=200, help_text="Signed-note key name (the log origin).")
    public_key = models.BinaryField(max_length=32)
    fingerprint = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the raw public key.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RestrictedQuerySet.as_manager()
    project_field = None

    class Meta:
        ordering = ["-valid_from"]

    def __str__(self) -> str:
        return f"{self.name}+{self.key_id}"

    @property
    def raw_public_key(self) -> bytes:
        return bytes(self.public_key)

    @staticmethod
    def fingerprint_of(public_key: bytes) -> str:
        return hashlib.sha256(public_key).hexdigest()


class Checkpoint(models.Model):
    """A signed tree head in C2SP signed-note form (insert-only)."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    origin = models.CharField(max_length=200)
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="checkpoints")
    note = models.TextField()
    created_at = models.DateTimeField()
    watermark = models.BigIntegerField(default=0, help_text="Transactions below this id were all sequenced.")

    class Meta:
        ordering = ["-tree_size"]

    def __str__(self) -> str:
        return f"checkpoint {self.tree_size}"


class SubjectKey(models.Model):
    """A data subject's pseudonym key. NOT append-only: erasure destroys the key."""

    subject = models.CharField(max_length=200, unique=True)
    key = models.BinaryField(max_length=32, null=True)
    created_at = models.DateTimeField()
    erased_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.subject


class VerificationRun(models.Model):
    """A full recomputation of the tree (``audit_verify``, the periodic task, or the UI)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(null=True)
    tree_size = models.BigIntegerField(default=0)
    events_checked = models.BigIntegerField(default=0)
    checkpoints_checked = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    first_bad_event_id = models.BigIntegerField(null=True, blank=True)
    trigger = models.CharField(max_length=32, default="beat")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"verification {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED' if self.ok is False else 'running'}"
