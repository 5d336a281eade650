"""Resolving a presented tenant API key to the principal it acts as."""
from dataclasses import dataclass

from rest_framework.exceptions import AuthenticationFailed

from apikeys.gateway.keys import load_key_snapshot, snapshot_accepts
from core.credentials import ParsedCredential


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


def authenticate_api_key(parsed: ParsedCredential, snapshot: dict | None = None) -> tuple[ApiKeyPrincipal, None]:
    """`snapshot` is the one the gateway already read for this request, if any (no 2nd lookup)."""
    if snapshot is None:
        snapshot = load_key_snapshot(parsed.public_id)
    if not snapshot_accepts(snapshot, parsed.raw):
        raise AuthenticationFailed("Invalid, expired or revoked API key.")
    principal = ApiKeyPrincipal(
        key_id=snapshot["key_id"],
        tenant_id=snapshot["tenant_id"],
        scopes=frozenset(snapshot["scopes"]),
        rate_limit=snapshot["rate_limit"],
        name=snapshot["name"],
    )
    return principal, None
