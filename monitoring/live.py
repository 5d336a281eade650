"""Live status fan-out: services publish, WebSocket consumers of the tenant receive.

`publish()` is synchronous and never raises: a broken channel layer must not fail the check,
the run or the request that changed the status. Call it after commit (see `publish_on_commit`)
so listeners never see a state that is rolled back.

Two transports, one per deployment shape (`LIVE_OUTBOX`, docs/monitoring.md "Live status"):
- with Redis the channel layer is shared (channels_redis): any process's `group_send` reaches
  the consumers of every web process;
- on the embedded default the in-memory layer is per process, so publishers append to the
  `LiveEvent` outbox table instead, and each web process that has WebSocket clients runs one
  `OutboxDrainer`, which reads new rows every `LIVE_OUTBOX_POLL_SECONDS` and hands them to its
  own in-memory layer. Events made by the worker, beat or another web process thus arrive too.
"""
import asyncio
import logging
import time
import weakref
from datetime import UTC, datetime, timedelta

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

logger = logging.getLogger("groundstation.monitoring.live")

MESSAGE_TYPE = "status.event"  # dispatched to StatusConsumer.status_event
# Outbox rows are read by id. On PostgreSQL an id is drawn before its row commits, so a row with
# a smaller id can become visible after a bigger one: ids are re-read for this long before the
# drainer moves past them. (SQLite has one writer at a time; there ids appear in order.)
OUTBOX_GRACE_SECONDS = 2.0
OUTBOX_KEEP_SECONDS = 60  # rows older than this are pruned; a drainer never lags that far
OUTBOX_BATCH = 500


def tenant_group(tenant_id) -> str:
    return f"tenant.{tenant_id}"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def publish(*, tenant_id, event: str, data: dict) -> None:
    """Send `{"event", "data", "at"}` to every live connection of the tenant."""
    publish_many([(tenant_id, event, data)])


def publish_many(events: list[tuple]) -> None:
    """Send several `(tenant_id, event, data)` at once: one outbox statement, or one hop into
    the layer's event loop, for a whole batch of status changes instead of one per change."""
    if not events:
        return
    try:
        if settings.LIVE_OUTBOX:
            _outbox_append(events)
        else:
            _layer_send(events, _now_iso())
    except Exception:  # live events are best effort by design; log, never fail the caller
        logger.warning("live publish failed", extra={"events": len(events)}, exc_info=True)


def publish_on_commit(*, tenant_id, event: str, data: dict) -> None:
    transaction.on_commit(lambda: publish(tenant_id=tenant_id, event=event, data=data))


def publish_many_on_commit(events: list[tuple]) -> None:
    if events:
        transaction.on_commit(lambda: publish_many(events))


def _layer_send(events: list[tuple], at: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        for tenant_id, event, data in events:
            message = {"type": MESSAGE_TYPE, "event": event, "data": data, "at": at}
            await layer.group_send(tenant_group(tenant_id), message)

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        # Called from async code (a consumer, the poller's loop): don't block the loop.
        loop.create_task(send_all())
    else:
        async_to_sync(send_all)()


def _outbox_append(events: list[tuple]) -> None:
    from monitoring.models import LiveEvent

    at = datetime.now(UTC)
    rows = [LiveEvent(tenant_id=tenant_id, event=event, data=data, at=at) for tenant_id, event, data in events]
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        LiveEvent.objects.bulk_create(rows)
        return
    # In async code the ORM must run in a thread; the event is sent when the insert is done.
    asyncio.get_running_loop().run_in_executor(None, LiveEvent.objects.bulk_create, rows)


def outbox_prune(*, older_than_seconds: int = OUTBOX_KEEP_SECONDS) -> int:
    from monitoring.models import LiveEvent

    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
    deleted, _ = LiveEvent.objects.filter(at__lt=cutoff).delete()
    return deleted


class OutboxDrainer:
    """One per event loop of a web process, running while it has at least one listener."""

    def __init__(self) -> None:
        self.listeners = 0
        self.task: asyncio.Task | None = None
        self.floor = 0  # every id <= floor was delivered or will never appear
        self.seen: dict[int, float] = {}  # ids above the floor already delivered → when first seen
        self.pruned_at = 0.0

    async def attach(self) -> None:
        self.listeners += 1
        if self.task is None or self.task.done():
            # Start at the newest row: nobody here listened to what came before.
            self.floor = await database_sync_to_async(_latest_id)()
            self.seen.clear()
            self.task = asyncio.ensure_future(self._run())

    def detach(self) -> None:
        self.listeners = max(0, self.listeners - 1)

    async def _run(self) -> None:
        while self.listeners > 0:
            try:
                rows = await database_sync_to_async(self._read)()
                if rows:
                    await self._deliver(rows)
                if time.monotonic() - self.pruned_at > OUTBOX_KEEP_SECONDS:
                    self.pruned_at = time.monotonic()
                    await database_sync_to_async(outbox_prune)()
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked or lost database: try again on the next tick
                logger.warning("live outbox read failed", exc_info=True)
            await asyncio.sleep(settings.LIVE_OUTBOX_POLL_SECONDS)

    def _read(self) -> list:
        from monitoring.models import LiveEvent

        rows = list(
            LiveEvent.objects.filter(id__gt=self.floor).order_by("id")
            .values_list("id", "tenant_id", "event", "data", "at")[:OUTBOX_BATCH]
        )
        now = time.monotonic()
        grace = OUTBOX_GRACE_SECONDS if connection.vendor != "sqlite" else 0.0
        fresh = [row for row in rows if row[0] not in self.seen]
        for row in fresh:
            self.seen[row[0]] = now
        # Move the floor past ids seen longer than the grace ago, up to the first one that isn't.
        for pk in sorted(self.seen):
            if now - self.seen[pk] < grace:
                break
            self.floor = pk
            del self.seen[pk]
        if len(rows) == OUTBOX_BATCH and not fresh:  # a full batch already delivered: skip ahead
            self.floor = rows[-1][0]
        return fresh

    async def _deliver(self, rows: list) -> None:
        layer = get_channel_layer()
        for _pk, tenant_id, event, data, at in rows:
            message = {"type": MESSAGE_TYPE, "event": event, "data": data,
                       "at": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
            await layer.group_send(tenant_group(tenant_id), message)


def _latest_id() -> int:
    from monitoring.models import LiveEvent

    return LiveEvent.objects.aggregate(latest=Max("id"))["latest"] or 0


_drainers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OutboxDrainer]" = weakref.WeakKeyDictionary()


async def listen() -> None:
    """A consumer joined: make sure this process drains the outbox (no-op with a shared layer)."""
    if settings.LIVE_OUTBOX:
        loop = asyncio.get_running_loop()
        drainer = _drainers.get(loop)
        if drainer is None:
            drainer = _drainers[loop] = OutboxDrainer()
        await drainer.attach()


def unlisten() -> None:
    if settings.LIVE_OUTBOX:
        try:
            drainer = _drainers.get(asyncio.get_running_loop())
        except RuntimeError:
            return
        if drainer is not None:
            drainer.detach()
