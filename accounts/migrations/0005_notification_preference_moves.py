"""NotificationPreference moves to the `notifications` app with its table (state only; see
notifications/migrations/0001_notification_preference.py)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_notification_preference"),
        ("notifications", "0001_notification_preference"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="NotificationPreference")],
            database_operations=[],
        ),
    ]
