"""Who a request's credential is: one DRF authentication class for JWTs, personal tokens and API keys.

`Authorization: Bearer <credential>` or `X-API-Key: <key>` (read once per request by
`core.api.credential`); the credential's prefix says which kind it is, so a lookup never
tries the wrong table: `gsk_` is a tenant API key, `gsp_` a personal token, anything else a
JWT. Registered in `REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]`.

No second lookup for what the gateway middleware already read: an API key is checked against
the key snapshot it loaded, and on a read a JWT's user is the user row of its user snapshot
(the same checks as simplejwt's: active, password unchanged, session version). A write loads
the user from the database, so it never saves a cached row back.
"""
from dataclasses import dataclass

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from accounts.authentication import authenticate_personal_token
from accounts.models import SESSION_VERSION_CLAIM, PersonalAccessToken, User
from apikeys.gateway.keys import load_key_snapshot, snapshot_accepts
from apikeys.gateway.snapshots import build_key_snapshot
from apikeys.models import ApiKey
from core import credentials
from core.api.credential import MalformedAuthorization, presented_credential
from core.credentials import ParsedCredential
from core.rows import instance_from_row

CREDENTIAL_PREFIXES = (f"{ApiKey.PREFIX}_", f"{PersonalAccessToken.PREFIX}_")


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


def _gateway_snapshot(request, raw: str, kind: str) -> dict | None:
    """The snapshot the gateway middleware already read for this very credential, if any."""
    state = getattr(request._request, "gateway", None)
    if state is not None and state.kind == kind and state.raw == raw:
        return state.snapshot
    return None


def _cached_user(request, raw: str, validated) -> User | None:
    """A read's JWT user from the gateway's user snapshot, checked as simplejwt checks a stored one."""
    if request is None or request.method not in SAFE_METHODS:
        return None
    snapshot = _gateway_snapshot(request, raw, "user") or {}
    row = snapshot.get("user_row")
    if row is None or snapshot.get("user_id") != str(validated.get(jwt_settings.USER_ID_CLAIM)):
        return None
    user = instance_from_row(User, row)
    if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
        raise AuthenticationFailed("User is inactive", code="user_inactive")
    if jwt_settings.CHECK_REVOKE_TOKEN and validated.get(jwt_settings.REVOKE_TOKEN_CLAIM) != snapshot.get(
        "password_digest"
    ):
        raise AuthenticationFailed("The user's password has been changed.", code="password_changed")
    return user


class BearerCredentialAuthentication(BaseAuthentication):
    _jwt = JWTAuthentication()

    def authenticate(self, request):
        try:
            raw = presented_credential(request)
        except MalformedAuthorization:
            raise AuthenticationFailed("Use 'Authorization: Bearer <credential>'.")
        if raw is None:
            return None
        return self.authenticate_raw(raw, request)

    def authenticate_raw(self, raw: str, request=None, *, fresh: bool = False):
        """(principal, auth) for a bare credential; also used by WebSockets (`?token=`, no request).

        `fresh` reads an API key from the database instead of the snapshot cache (for re-checks
        of long-lived connections, which must not trust a cache that may lag a revocation)."""
        if raw.startswith(CREDENTIAL_PREFIXES):
            parsed = credentials.parse(raw)
            if parsed is None:
                raise AuthenticationFailed("Malformed credential.")
            if parsed.prefix == ApiKey.PREFIX:
                snapshot = _gateway_snapshot(request, raw, "key") if request is not None else None
                if fresh:
                    snapshot = build_key_snapshot(parsed.public_id)
                    if snapshot is None:
                        raise AuthenticationFailed("Invalid, expired or revoked API key.")
                return authenticate_api_key(parsed, snapshot=snapshot)
            return authenticate_personal_token(parsed)
        return self._authenticate_jwt(raw, request)

    def _authenticate_jwt(self, raw: str, request=None):
        try:
            validated = self._jwt.get_validated_token(raw.encode())
        except (InvalidToken, TokenError) as exc:
            raise AuthenticationFailed("Invalid or expired token.") from exc
        user = _cached_user(request, raw, validated) or self._jwt.get_user(validated)
        # Tokens from before session versions existed carry none: version 0, the default.
        if validated.get(SESSION_VERSION_CLAIM, 0) != user.session_version:
            raise AuthenticationFailed("This session has ended; sign in again or refresh.")
        return user, validated

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
