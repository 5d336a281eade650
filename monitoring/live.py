"""Live status fan-out: services publish, WebSocket consumers of the tenant receive.

`publish()` is synchronous and never raises: a broken channel layer must not fail the check,
the run or the request that changed the status. Call it after commit (see `publish_on_commit`)
so listeners never see a state that is rolled back.
"""
import asyncio
import logging
from datetime import UTC, datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("groundstation.monitoring.live")

MESSAGE_TYPE = "status.event"  # dispatched to StatusConsumer.status_event


def tenant_group(tenant_id) -> str:
    return f"tenant.{tenant_id}"


def publish(*, tenant_id, event: str, data: dict) -> None:
    """Send `{"event", "data", "at"}` to every live connection of the tenant."""
    publish_many([(tenant_id, event, data)])


def publish_many(events: list[tuple]) -> None:
    """Send several `(tenant_id, event, data)` at once: one hop into the layer's event loop
    for a whole batch of status changes instead of one per change."""
    layer = get_channel_layer()
    if layer is None or not events:
        return
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    async def send_all() -> None:
        for tenant_id, event, data in events:
            message = {"type": MESSAGE_TYPE, "event": event, "data": data, "at": at}
            await layer.group_send(tenant_group(tenant_id), message)

    try:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            # Called from async code (a consumer, the poller's loop): don't block the loop.
            loop.create_task(send_all())
        else:
            async_to_sync(send_all)()
    except Exception:  # the channel layer is best effort by design; log, never fail the caller
        logger.warning("live publish failed", extra={"events": len(events)}, exc_info=True)


def publish_on_commit(*, tenant_id, event: str, data: dict) -> None:
    transaction.on_commit(lambda: publish(tenant_id=tenant_id, event=event, data=data))


def publish_many_on_commit(events: list[tuple]) -> None:
    if events:
        transaction.on_commit(lambda: publish_many(events))
