"""The access log's buffer: appended to by a download, written to the database in bulk off it.

Shaped like the usage meter (`apikeys/gateway/metering.py`): `record()` costs a deque append,
so a download never waits on an INSERT. A daemon thread ships the buffer every
`USAGE_SHIP_INTERVAL_SECONDS`: with Redis, to the list `BUFFER_KEY` (one RPUSH per batch) that
`files.services.access_log_flush` (beat, every 5 s; and before each access-log listing) drains
into the table; in the embedded default (no Redis), straight into the table. On interpreter
exit the buffer is shipped once more, so a normal shutdown loses nothing; a batch that cannot
be shipped goes back to the buffer. Each row carries its own `key` (a UUID), so a batch
replayed after a crash mid-flush is stored once.
"""
from __future__ import annotations

import atexit
import collections
import json
import logging
import threading
import time
import uuid

from django.conf import settings
from django.utils import timezone

from apikeys.gateway.store import redis_client

logger = logging.getLogger("groundstation.files")

BUFFER_KEY = "gs:files:access:buffer"
PROCESSING_PREFIX = "gs:files:access:processing:"
SHIP_BATCH = 1000

_buffer: collections.deque = collections.deque()
_ship_lock = threading.Lock()
_thread: threading.Thread | None = None
_thread_lock = threading.Lock()


def record(*, tenant_id, file_id, via: str, status: int, sent: int, ip: str | None,
           user_id=None, api_key_id=None, share_id=None) -> None:
    """Queue one download's row. Never blocks on I/O."""
    if len(_buffer) >= settings.USAGE_BUFFER_MAX:
        # Bounded memory beats an OOM kill that would lose everything; this is logged loudly.
        logger.error("file access-log buffer full; dropping the oldest row")
        _buffer.popleft()
    _buffer.append({
        "key": uuid.uuid4().hex, "tenant": str(tenant_id), "file": str(file_id), "at": timezone.now().isoformat(),
        "via": via, "status": status, "bytes": sent, "ip": ip or None,
        "user": user_id and str(user_id), "api_key": api_key_id and str(api_key_id),
        "share": share_id and str(share_id),
    })
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
    """Move everything buffered in this process on: to Redis, or (embedded) to the table."""
    from files.services import access_log_store

    shipped = 0
    with _ship_lock:
        while True:
            batch = _take(SHIP_BATCH)
            if not batch:
                return shipped
            try:
                client = redis_client()
                if client is not None:
                    client.rpush(BUFFER_KEY, *[json.dumps(row, separators=(",", ":")) for row in batch])
                else:
                    access_log_store(rows=batch)
            except Exception:
                # Keep the batch (at the front, in order) and try again on the next tick.
                _buffer.extendleft(reversed(batch))
                logger.warning("file access-log buffer could not be shipped; will retry", exc_info=True)
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
            _thread = threading.Thread(target=_run, name="file-access-log-shipper", daemon=True)
            _thread.start()


@atexit.register
def _drain_on_exit() -> None:
    if _buffer:
        try:
            ship()
        except Exception:  # interpreter shutdown: report, never raise
            logger.exception("file access-log buffer could not be drained at exit (%d rows)", len(_buffer))
