"""People's e-mail preferences, moved here from `accounts` with their table and rows.

State only: the table `accounts_notificationpreference` was created by
`accounts/migrations/0004_notification_preference.py` and keeps its name (`db_table`), so every
row stays; `accounts/migrations/0005_notification_preference_moves.py` drops the model from
accounts' state. The content type is renamed rather than recreated, so the operator groups'
permissions and the admin log follow the model (as the audit log's move to core did).
"""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_follows(apps, schema_editor, *, old: str, new: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    rows = content_type.objects.using(schema_editor.connection.alias)
    if not rows.filter(app_label=new, model="notificationpreference").exists():
        rows.filter(app_label=old, model="notificationpreference").update(app_label=new)


def forwards(apps, schema_editor):
    content_type_follows(apps, schema_editor, old="accounts", new="notifications")


def backwards(apps, schema_editor):
    content_type_follows(apps, schema_editor, old="notifications", new="accounts")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0004_notification_preference"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="NotificationPreference",
                    fields=[
                        ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True,
                                                      related_name="notification_preference", serialize=False,
                                                      to=settings.AUTH_USER_MODEL)),
                        ("invitations", models.BooleanField(default=True)),
                        ("incidents", models.BooleanField(default=True)),
                        ("billing", models.BooleanField(default=True)),
                        ("product", models.BooleanField(default=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={"db_table": "accounts_notificationpreference"},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
