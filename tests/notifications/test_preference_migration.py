"""The preferences' move from `accounts` to `notifications` keeps every row of an existing database."""
import pytest

from tests.core.test_audit_migration import migrate, migrate_to_latest

BEFORE = [("accounts", "0004_notification_preference"), ("notifications", None)]
AFTER = [("accounts", "0005_notification_preference_moves"), ("notifications", "0001_notification_preference")]


@pytest.mark.django_db(transaction=True)
def test_the_rows_written_in_accounts_are_read_in_notifications():
    old = migrate(BEFORE)
    user = old.get_model("accounts", "User").objects.create(email="a@example.com")
    old.get_model("accounts", "NotificationPreference").objects.create(user=user, billing=False)
    try:
        new = migrate(AFTER)
        row = new.get_model("notifications", "NotificationPreference").objects.get()
        assert (row.user_id, row.billing, row.incidents) == (user.pk, False, True)
    finally:
        migrate_to_latest()
