"""Resolving a presented personal access token to the user it acts as."""
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from accounts.models import PersonalAccessToken
from accounts.services import personal_token_touch
from core.credentials import ParsedCredential


def authenticate_personal_token(parsed: ParsedCredential):
    token = PersonalAccessToken.objects.select_related("user").filter(public_id=parsed.public_id).first()
    now = timezone.now()
    if token is None or not token.matches(parsed.raw) or not token.is_usable(now):
        raise AuthenticationFailed("Invalid, expired or revoked token.")
    if not token.user.is_active:
        raise AuthenticationFailed("This account is not active.")
    personal_token_touch(token=token, now=now)
    return token.user, token
