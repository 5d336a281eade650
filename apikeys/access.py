"""Access of long-lived connections (live-status WebSockets, event streams), checked again later.

A request is authorised once; a connection lives on. So the grant a connection was opened with
is re-checked whenever its access may have changed (a key or token revoked, a member removed or
demoted, a tenant suspended, a user blocked: `ACCESS_EVENT`, published to the tenant's live
group by `monitoring.signals`), and event streams re-check it between polls. The re-check reads
the database (`fresh=True`), not the credential cache, which may lag behind a revocation.
"""
from types import SimpleNamespace

from rest_framework.exceptions import APIException, AuthenticationFailed, NotAuthenticated

from apikeys.authentication import BearerCredentialAuthentication
from core.api.tenancy import resolve_tenant_context
from tenants.policy import Action, allows

ACCESS_EVENT = "access.changed"  # internal: consumers re-check, clients never see it
UNAUTHENTICATED = 4401  # no credential, or a bad/expired/revoked one
FORBIDDEN = 4403  # valid credential, but not (or no longer) for this tenant
TENANT_REQUIRED = 4400  # the caller has several tenants and named none


class Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _BareRequest:
    """The little of a request that tenant resolution reads and writes."""

    def __init__(self, user) -> None:
        self.user = user
        self.META: dict = {}
        self._request = SimpleNamespace()


def authorise(token: str, slug: str, *, action: str = Action.READ, fresh: bool = False) -> dict:
    """The grant `{tenant_id, tenant, key_id, user_id}`; raises `Refused` with a close code."""
    if not token:
        raise Refused(UNAUTHENTICATED)
    try:
        principal, _auth = BearerCredentialAuthentication().authenticate_raw(token, fresh=fresh)
    except APIException:
        raise Refused(UNAUTHENTICATED)
    try:
        context = resolve_tenant_context(_BareRequest(principal), slug=slug)
    except (AuthenticationFailed, NotAuthenticated):  # e.g. an inactive user behind a valid token
        raise Refused(UNAUTHENTICATED)
    except APIException as exc:  # unknown/foreign tenant (404), suspended (403), tenant required (400)
        raise Refused(TENANT_REQUIRED if exc.status_code == 400 else FORBIDDEN)
    if not allows(context, action):
        raise Refused(FORBIDDEN)
    key_id = getattr(principal, "key_id", None)
    return {"tenant_id": str(context.tenant.pk), "tenant": context.tenant.slug,
            "key_id": key_id, "user_id": None if key_id else str(principal.pk)}


def concerns(grant: dict, change: dict) -> bool:
    """Whether an `ACCESS_EVENT` (`{"key_id"}`, `{"user_id"}` or `{"tenant": true}`) is about this grant."""
    if change.get("tenant"):
        return True
    if change.get("key_id"):
        return change["key_id"] == grant["key_id"]
    return bool(change.get("user_id")) and change["user_id"] == grant["user_id"]


def still_allowed(token: str, slug: str, *, action: str = Action.READ) -> bool:
    try:
        authorise(token, slug, action=action, fresh=True)
    except Refused:
        return False
    return True
