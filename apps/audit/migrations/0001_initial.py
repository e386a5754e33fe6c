from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("occurred_at", models.DateTimeField(db_index=True)),
                ("actor_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("actor_label", models.CharField(max_length=200)),
                ("actor_kind", models.CharField(max_length=16)),
                ("request_id", models.CharField(db_index=True, max_length=64)),
                ("action", models.CharField(db_index=True, max_length=64)),
                ("object_type", models.CharField(max_length=100)),
                ("object_id", models.CharField(max_length=64)),
                ("object_repr", models.CharField(blank=True, max_length=300)),
                ("project_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("before", models.JSONField(blank=True, null=True)),
                ("after", models.JSONField(blank=True, null=True)),
                ("extra", models.JSONField(blank=True, default=dict)),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")],
            },
        ),
    ]
