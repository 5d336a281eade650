"""Resolving a presented personal access token to the user it acts as."""
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import PersonalAccessToken
from apikeys.credentials import ParsedCredential


def authenticate_personal_token(parsed: ParsedCredential):
    token = PersonalAccessToken.objects.select_related("user").filter(public_id=parsed.public_id).first()
    if token is None or not token.matches(parsed.raw) or not token.is_usable(timezone.now()):
        raise AuthenticationFailed("Invalid, expired or revoked token.")
    if not token.user.is_active:
        raise AuthenticationFailed("This account is not active.")
    return token.user, token
