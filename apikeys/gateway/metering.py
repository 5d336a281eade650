"""The usage meter's buffer: appended to in the request path, shipped in batches off it.

`record()` costs a deque append. A daemon thread ships the buffer every
`USAGE_SHIP_INTERVAL_SECONDS`: with Redis, to the list `BUFFER_KEY` (one RPUSH per batch) that
the Celery task `usage_flush` drains into the database; in the embedded default (no Redis),
straight into the database through the same service. On interpreter exit the buffer is shipped
once more, so a restart loses nothing; a batch that cannot be shipped goes back to the buffer.
Every record carries a gateway-minted `id`, so replays are counted once (unique key).
"""
from __future__ import annotations

import atexit
import collections
import json
import logging
import threading
import time

from django.conf import settings

from apikeys.gateway.store import redis_client

logger = logging.getLogger("groundstation.gateway")

BUFFER_KEY = "gs:usage:buffer"
PROCESSING_PREFIX = "gs:usage:processing:"
SHIP_BATCH = 1000

_buffer: collections.deque = collections.deque()
_ship_lock = threading.Lock()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def record(call: dict) -> None:
    """Queue one call record (a JSON-able dict). Never blocks on I/O."""
    if len(_buffer) >= settings.USAGE_BUFFER_MAX:
        # Bounded memory beats an OOM kill that would lose everything; this is logged loudly.
        logger.error("usage buffer full; dropping the oldest call record")
        _buffer.popleft()
    _buffer.append(call)
    if _thread is None and settings.USAGE_BUFFER_AUTOFLUSH:
        _start_shipper()


def pending() -> int:
    return len(_buffer)


def clear() -> None:
    _buffer.clear()


def _take(limit: int) -> list[dict]:
    batch = []
    while _buffer and len(batch) < limit:
        batch.append(_buffer.popleft())
    return batch


def ship() -> int:
    """Move everything buffered in this process on: to Redis, or (embedded) to the database."""
    from apikeys.services import usage_calls_store

    shipped = 0
    with _ship_lock:
        while True:
            batch = _take(SHIP_BATCH)
            if not batch:
                return shipped
            try:
                client = redis_client()
                if client is not None:
                    client.rpush(BUFFER_KEY, *[json.dumps(call, separators=(",", ":")) for call in batch])
                else:
                    usage_calls_store(calls=batch)
            except Exception:
                # Keep the batch (at the front, in order) and try again on the next tick.
                _buffer.extendleft(reversed(batch))
                logger.warning("usage buffer could not be shipped; will retry", exc_info=True)
                return shipped
            shipped += len(batch)


def _run() -> None:
    interval = settings.USAGE_SHIP_INTERVAL_SECONDS
    while True:
        time.sleep(interval)
        if _buffer:
            ship()
            from django.db import connection

            connection.close()  # this thread's own connection; don't hold it between ticks


def _start_shipper() -> None:
    global _thread
    with _thread_lock:
        if _thread is None:
            _thread = threading.Thread(target=_run, name="usage-shipper", daemon=True)
            _thread.start()


@atexit.register
def _drain_on_exit() -> None:
    if _buffer:
        try:
            ship()
        except Exception:  # interpreter shutdown: report, never raise
            logger.exception("usage buffer could not be drained at exit (%d records)", len(_buffer))
