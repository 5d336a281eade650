"""`WS /api/v1/ws/status?token=<credential>&tenant=<slug>`: live status of one tenant.

The credential is resolved exactly as for the HTTP API (JWT, personal token or API key) and
the tenant exactly as `X-Tenant` would be (key's own tenant, the named slug, or the caller's
only membership). Refused connections are closed before the handshake completes.
"""
import asyncio
import time
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


# Clients only ever send small pings; a bigger frame is refused before it is parsed.
MAX_FRAME_BYTES = 4096
TOO_BIG_CLOSE_CODE = 1009  # RFC 6455 "message too big"
# A client that sends nothing (no ping) for this long is presumed gone: closing it stops dead
# peers from holding a group membership and a server slot forever.
IDLE_SECONDS = 300.0
IDLE_CLOSE_CODE = 4408


class StatusConsumer(AsyncJsonWebsocketConsumer):
    group_name: str | None = None
    idle_task: asyncio.Task | None = None
    last_seen: float = 0.0

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
        self.last_seen = time.monotonic()
        self.idle_task = asyncio.ensure_future(self._close_when_idle())
        await self.send_json({"event": "hello", "data": {"tenant": grant["tenant"]}})

    async def _close_when_idle(self) -> None:
        while True:
            remaining = self.last_seen + IDLE_SECONDS - time.monotonic()
            if remaining <= 0:
                await self.close(code=IDLE_CLOSE_CODE)
                return
            await asyncio.sleep(remaining)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if len(text_data or "") + len(bytes_data or b"") > MAX_FRAME_BYTES:
            await self.close(code=TOO_BIG_CLOSE_CODE)
            return
        self.last_seen = time.monotonic()
        await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def disconnect(self, code) -> None:
        if self.idle_task is not None:
            self.idle_task.cancel()
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        # The stream is one-way; answer pings so clients can keep proxies from idling out.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"event": "pong", "data": {}})

    async def status_event(self, message: dict) -> None:
        await self.send_json({"event": message["event"], "data": message["data"], "at": message["at"]})
