"""One DRF authentication class for every credential: JWT, personal token or tenant API key.

`Authorization: Bearer <credential>` or `X-API-Key: <key>`; the credential's prefix says
which kind it is, so a lookup never tries the wrong table.
"""
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.authentication import authenticate_personal_token
from accounts.models import SESSION_VERSION_CLAIM, PersonalAccessToken
from apikeys.authentication import authenticate_api_key
from apikeys.gateway.snapshots import build_key_snapshot
from apikeys.models import ApiKey
from core import credentials

CREDENTIAL_PREFIXES = (f"{ApiKey.PREFIX}_", f"{PersonalAccessToken.PREFIX}_")


def presented_credential(request) -> str | None:
    header = get_authorization_header(request).decode("latin-1").strip()
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip() or " " in value.strip():
            raise AuthenticationFailed("Use 'Authorization: Bearer <credential>'.")
        return value.strip()
    api_key = request.META.get("HTTP_X_API_KEY", "").strip()
    return api_key or None


def _gateway_snapshot(request, raw: str) -> dict | None:
    """The key snapshot the gateway middleware already read for this very credential, if any."""
    state = getattr(request._request, "gateway", None)
    if state is not None and state.kind == "key" and state.raw == raw:
        return state.snapshot
    return None


class BearerCredentialAuthentication(BaseAuthentication):
    _jwt = JWTAuthentication()

    def authenticate(self, request):
        raw = presented_credential(request)
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
                snapshot = _gateway_snapshot(request, raw) if request is not None else None
                if fresh:
                    snapshot = build_key_snapshot(parsed.public_id)
                    if snapshot is None:
                        raise AuthenticationFailed("Invalid, expired or revoked API key.")
                return authenticate_api_key(parsed, snapshot=snapshot)
            return authenticate_personal_token(parsed)
        return self._authenticate_jwt(raw)

    def _authenticate_jwt(self, raw: str):
        try:
            validated = self._jwt.get_validated_token(raw.encode())
        except (InvalidToken, TokenError) as exc:
            raise AuthenticationFailed("Invalid or expired token.") from exc
        user = self._jwt.get_user(validated)
        # Tokens from before session versions existed carry none: version 0, the default.
        if validated.get(SESSION_VERSION_CLAIM, 0) != user.session_version:
            raise AuthenticationFailed("This session has ended; sign in again or refresh.")
        return user, validated

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
