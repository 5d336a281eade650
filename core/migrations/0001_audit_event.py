"""The audit log, moved here from `tenants` with its table (`tenants_auditevent`) and rows.

State only: the table was created by `tenants/migrations/0002_audit_event.py` and readied for
the move by `tenants/migrations/0004_audit_event_moves_to_core.py` (its tenant column is a
plain uuid there), so an existing database keeps every row and a fresh one gets the table from
tenants' history. The content type is renamed rather than recreated, so the operator groups'
permissions and the admin log's references to audit events follow the model.
"""
import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_follows(apps, schema_editor, *, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    if not rows.filter(app_label=new, model="auditevent").exists():
        rows.filter(app_label=old, model="auditevent").update(app_label=new)


def forwards(apps, schema_editor):
    content_type_follows(apps, schema_editor, old="tenants", new="core")


def backwards(apps, schema_editor):
    content_type_follows(apps, schema_editor, old="core", new="tenants")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("tenants", "0004_audit_event_moves_to_core"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                        ("tenant_id", models.UUIDField(blank=True, null=True)),
                        ("actor_api_key_id", models.UUIDField(blank=True, null=True)),
                        ("action", models.CharField(db_index=True, max_length=64)),
                        ("target_type", models.CharField(max_length=64)),
                        ("target_id", models.CharField(max_length=64)),
                        ("changes", models.JSONField(blank=True, default=dict)),
                        ("request_id", models.CharField(blank=True, max_length=128)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "tenants_auditevent",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(fields=["tenant_id", "-created_at"], name="tenants_audit_tenant_recent")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
