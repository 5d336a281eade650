"""A person's e-mail preferences by category (`GET / PATCH /api/v1/auth/me/notifications`).

`security` is always on and cannot be turned off; the other categories default to on.
`wants_email` is the one question senders ask before a non-security e-mail.
"""
from django.db import transaction
from rest_framework.exceptions import ValidationError

from accounts.models import NotificationPreference, User

SECURITY = "security"


def notification_preferences_get(*, user: User) -> dict:
    row = NotificationPreference.objects.filter(user=user).first()
    return {SECURITY: True, **{category: getattr(row, category, True)
                               for category in NotificationPreference.CATEGORIES}}


@transaction.atomic
def notification_preferences_update(*, user: User, **changes: bool) -> dict:
    if changes.get(SECURITY) is False:
        raise ValidationError({SECURITY: ["Security e-mail is always sent; it cannot be turned off."]})
    changes.pop(SECURITY, None)
    if changes:
        row, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        for category, value in changes.items():
            setattr(row, category, value)
        row.save()
    return notification_preferences_get(user=user)


def wants_email(*, user: User, category: str) -> bool:
    if category == SECURITY:
        return True
    return notification_preferences_get(user=user)[category]
