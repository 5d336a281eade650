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
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": MESSAGE_TYPE,
        "event": event,
        "data": data,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    try:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            # Called from async code (a consumer, the poller's loop): don't block the loop.
            loop.create_task(layer.group_send(tenant_group(tenant_id), message))
        else:
            async_to_sync(layer.group_send)(tenant_group(tenant_id), message)
    except Exception:  # the channel layer is best effort by design; log, never fail the caller
        logger.warning("live publish failed", extra={"event": event, "tenant": str(tenant_id)}, exc_info=True)


def publish_on_commit(*, tenant_id, event: str, data: dict) -> None:
    transaction.on_commit(lambda: publish(tenant_id=tenant_id, event=event, data=data))
