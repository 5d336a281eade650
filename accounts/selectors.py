"""Reads of the accounts app."""
from django.db.models import QuerySet

from accounts.models import PersonalAccessToken, User


def personal_token_list(*, user: User) -> QuerySet[PersonalAccessToken]:
    """The user's tokens that still work or could (revoked ones are gone for good)."""
    return PersonalAccessToken.objects.filter(user=user, revoked_at__isnull=True)


def user_list_for_staff() -> QuerySet[User]:
    return User.objects.all()
