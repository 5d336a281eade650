"""`WS /api/v1/ws/status`: live status of one tenant (close codes and frames: docs/monitoring.md).

The credential comes in `Authorization: Bearer`, in the `Sec-WebSocket-Protocol` offer
(`groundstation, bearer.<credential>`; the server answers `groundstation`), or in `?token=`,
and is resolved exactly as for the HTTP API (JWT, personal token or API key); the tenant exactly
as `X-Tenant` would be (key's own tenant, `?tenant=<slug>`, or the caller's only membership).
A refused connection is accepted and closed at once with a code that says why: a close before
the handshake reaches the client as a bare HTTP 403, with no reason at all.
"""
import asyncio
import json
import time
from urllib.parse import parse_qs, urlparse

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings

from apikeys import access
from apikeys.access import Refused, authorise
from monitoring import live
from monitoring.live import tenant_group

SUBPROTOCOL = "groundstation"
BEARER_SUBPROTOCOL_PREFIX = "bearer."
# Close codes (documented in docs/monitoring.md, "Live status").
UNAUTHENTICATED_CLOSE_CODE = access.UNAUTHENTICATED  # no credential, or a bad/expired/revoked one
FORBIDDEN_CLOSE_CODE = access.FORBIDDEN  # valid credential, but not for this tenant, or a foreign Origin
TENANT_REQUIRED_CLOSE_CODE = access.TENANT_REQUIRED  # the caller has several tenants and named none
IDLE_CLOSE_CODE = 4408
TOO_BIG_CLOSE_CODE = 1009  # RFC 6455 "message too big"
# Clients only ever send small pings; a bigger frame is refused before it is parsed.
MAX_FRAME_BYTES = 4096
# A client that sends nothing (no ping) for this long is presumed gone: closing it stops dead
# peers from holding a group membership and a server slot forever.
IDLE_SECONDS = 300.0
# Access changes arrive as events within a second or two; this re-check bounds the damage of
# an event that got lost (the channel layer is best effort).
RECHECK_SECONDS = 60.0


def origin_allowed(headers: dict[bytes, bytes]) -> bool:
    """A browser's cross-site page must not ride on a user's credential; clients that send no
    `Origin` (every non-browser client) are judged by their credential alone."""
    raw = headers.get(b"origin")
    if raw is None:
        return True
    validator = OriginValidator(None, settings.ALLOWED_HOSTS)
    return validator.valid_origin(urlparse(raw.decode("latin-1")))


def credential_from(scope: dict, headers: dict[bytes, bytes]) -> tuple[str, str | None]:
    """(credential, subprotocol to answer): header first, then the protocol offer, then `?token=`."""
    subprotocols = scope.get("subprotocols") or []
    answer = SUBPROTOCOL if SUBPROTOCOL in subprotocols else None
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip(), answer
    for offered in subprotocols:
        if offered.startswith(BEARER_SUBPROTOCOL_PREFIX):
            return offered[len(BEARER_SUBPROTOCOL_PREFIX):], answer
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return (params.get("token") or [""])[0].strip(), answer


class StatusConsumer(AsyncJsonWebsocketConsumer):
    group_name: str | None = None
    idle_task: asyncio.Task | None = None
    recheck_task: asyncio.Task | None = None
    last_seen: float = 0.0
    grant: dict | None = None

    async def connect(self) -> None:
        headers = dict(self.scope.get("headers") or [])
        token, subprotocol = credential_from(self.scope, headers)
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        slug = (params.get("tenant") or [""])[0].strip()
        try:
            if not origin_allowed(headers):
                raise Refused(FORBIDDEN_CLOSE_CODE)
            grant = await database_sync_to_async(authorise)(token, slug)
        except Refused as refused:
            await self.accept(subprotocol)
            await self.close(code=refused.code)
            return
        self.token, self.slug, self.grant = token, slug, grant
        self.group_name = tenant_group(grant["tenant_id"])
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await live.listen()
        await self.accept(subprotocol)
        # Once more now that we are in the group: a revocation published between the first
        # check and the join reached nobody.
        if not await self._still_allowed():
            return
        self.last_seen = time.monotonic()
        self.idle_task = asyncio.ensure_future(self._close_when_idle())
        self.recheck_task = asyncio.ensure_future(self._recheck_periodically())
        await self.send_json({"event": "hello", "data": {"tenant": grant["tenant"]}})

    async def _still_allowed(self) -> bool:
        """Re-check the grant against the database; close (4401/4403) when it is gone."""
        try:
            await database_sync_to_async(authorise)(self.token, self.slug, fresh=True)
        except Refused as refused:
            await self.close(code=refused.code)
            return False
        return True

    async def _recheck_periodically(self) -> None:
        while await asyncio.sleep(RECHECK_SECONDS, result=True):
            if not await self._still_allowed():
                return

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
        if text_data is not None and text_data.strip().lower() == "ping":
            await self.send(text_data="pong")  # the plain keep-alive many clients send
            return
        try:
            content = json.loads(text_data) if text_data is not None else None
        except ValueError:
            content = None
        if not isinstance(content, dict):
            await self._send_error("INVALID_MESSAGE", 'Frames are JSON objects, e.g. {"type": "ping"}, or "ping".')
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        # The stream is one-way; pings let clients keep proxies from idling out.
        if content.get("type") == "ping":
            await self.send_json({"event": "pong", "data": {}})
        else:
            await self._send_error("UNKNOWN_MESSAGE", 'The only message a client sends is {"type": "ping"}.')

    async def _send_error(self, code: str, message: str) -> None:
        await self.send_json({"event": "error", "data": {"code": code, "message": message}})

    async def disconnect(self, code) -> None:
        for task in (self.idle_task, self.recheck_task):
            if task is not None:
                task.cancel()
        if self.group_name:
            live.unlisten()
            await self.channel_layer.group_discard(self.group_name, self.channel_name)

    async def status_event(self, message: dict) -> None:
        if message["event"] == access.ACCESS_EVENT:  # internal: never forwarded to the client
            if self.grant is not None and access.concerns(self.grant, message["data"]):
                await self._still_allowed()
            return
        await self.send_json({"event": message["event"], "data": message["data"], "at": message["at"]})
