"""Resolving a presented tenant API key to the principal it acts as."""
from dataclasses import dataclass

from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from apikeys.credentials import ParsedCredential
from apikeys.models import ApiKey


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """`request.user` for key-authenticated calls: the tenant acting through one key."""

    key_id: str
    tenant_id: str
    scopes: frozenset
    rate_limit: str = ""
    name: str = ""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __str__(self) -> str:
        return f"api-key:{self.key_id}"


def authenticate_api_key(parsed: ParsedCredential) -> tuple[ApiKeyPrincipal, ApiKey]:
    key = ApiKey.objects.select_related("tenant").filter(public_id=parsed.public_id).first()
    if key is None or not key.matches(parsed.raw) or not key.is_usable(timezone.now()):
        raise AuthenticationFailed("Invalid, expired or revoked API key.")
    principal = ApiKeyPrincipal(
        key_id=str(key.id),
        tenant_id=str(key.tenant_id),
        scopes=frozenset(key.scopes),
        rate_limit=key.rate_limit,
        name=key.name,
    )
    return principal, key
