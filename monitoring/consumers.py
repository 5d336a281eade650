"""`WS /api/v1/ws/status?token=<credential>&tenant=<slug>`: live status of one tenant.

The credential is resolved exactly as for the HTTP API (JWT, personal token or API key) and
the tenant exactly as `X-Tenant` would be (key's own tenant, the named slug, or the caller's
only membership). Refused connections are closed before the handshake completes.
"""
from types import SimpleNamespace
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from rest_framework.exceptions import APIException

from config.api.authentication import BearerCredentialAuthentication
from config.api.tenancy import resolve_tenant_context
from monitoring.live import tenant_group
from tenants.policy import Action


class _SocketRequest:
    """The little of a request that tenant resolution reads and writes."""

    def __init__(self, user) -> None:
        self.user = user
        self.META: dict = {}
        self._request = SimpleNamespace()


def authorise(token: str, slug: str) -> dict | None:
    """The tenant this credential may watch, or None to refuse."""
    if not token:
        return None
    try:
        principal, _auth = BearerCredentialAuthentication().authenticate_raw(token)
        context = resolve_tenant_context(_SocketRequest(principal), slug=slug)
    except APIException:  # bad credential, unknown/foreign tenant, suspended, tenant required
        return None
    if not context.allows(Action.READ):
        return None
    return {"tenant_id": str(context.tenant.pk), "tenant": context.tenant.slug}


class StatusConsumer(AsyncJsonWebsocketConsumer):
    group_name: str | None = None

    async def connect(self) -> None:
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (params.get("token") or [""])[0].strip()
        slug = (params.get("tenant") or [""])[0].strip()
        grant = await database_sync_to_async(authorise)(token, slug)
        if grant is None:
            await self.close(code=4403)
            return
        self.group_name = tenant_group(grant["tenant_id"])
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.accept()
        await self.send_json({"event": "hello", "data": {"tenant": grant["tenant"]}})

    async def disconnect(self, code) -> None:
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The stream is one-way; answer pings so clients can keep proxies from idling out.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong", "data": {}})

    async def status_event(self, message: dict) -> None:
        await self.send_json({"event": message["event"], "data": message["data"], "at": message["at"]})
