"""A write-behind buffer: rows appended in the request path, shipped in batches off it.

Used by the usage meter and the files access log. `record()` costs a deque append. A daemon
thread ships the buffer every `USAGE_SHIP_INTERVAL_SECONDS`: with Redis, to a list (one RPUSH
per batch) that `flush()` (a beat task) drains into the table; in the embedded default (no
Redis), straight into the table through the same `store`. On interpreter exit the buffer is
shipped once more, so a normal shutdown loses nothing; a batch that cannot be shipped goes
back to the buffer. Rows must carry their own unique key so that a replayed batch (a crash
mid-drain) is stored once: `store` inserts with conflicts ignored.
"""
from __future__ import annotations

import atexit
import collections
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.utils.module_loading import import_string

SHIP_BATCH = 1000


class ShippedBuffer:
    """One buffer per process. `store` is a dotted path (resolved on first use, so the module
    that owns the table may import the module that owns the buffer); `redis_client` returns the
    Redis client or None in the embedded default."""

    def __init__(self, *, name: str, key_prefix: str, store: str, redis_client: Callable, logger: logging.Logger):
        self.name = name
        self.buffer_key = f"{key_prefix}:buffer"
        self.processing_prefix = f"{key_prefix}:processing:"
        self._store_path = store
        self._redis_client = redis_client
        self._logger = logger
        self._rows: collections.deque = collections.deque()
        self._ship_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        atexit.register(self._drain_on_exit)

    # --- the request path -------------------------------------------------------------------
    def record(self, row: dict) -> None:
        """Queue one JSON-able row. Never blocks on I/O."""
        if len(self._rows) >= settings.USAGE_BUFFER_MAX:
            # Bounded memory beats an OOM kill that would lose everything; this is logged loudly.
            self._logger.error("%s buffer full; dropping the oldest row", self.name)
            self._rows.popleft()
        self._rows.append(row)
        if self._thread is None and settings.USAGE_BUFFER_AUTOFLUSH:
            self._start_shipper()

    def pending(self) -> int:
        return len(self._rows)

    def buffered(self) -> list[dict]:
        """A copy of what this process holds and has not shipped yet."""
        return list(self._rows)

    def clear(self) -> None:
        self._rows.clear()

    # --- off the request path ---------------------------------------------------------------
    def ship(self) -> int:
        """Move everything buffered in this process on: to Redis, or (embedded) to the table."""
        shipped = 0
        with self._ship_lock:
            while True:
                batch = self._take(SHIP_BATCH)
                if not batch:
                    return shipped
                try:
                    client = self._redis_client()
                    if client is not None:
                        client.rpush(self.buffer_key, *[json.dumps(row, separators=(",", ":")) for row in batch])
                    else:
                        self._store(batch)
                except Exception:
                    # Keep the batch (at the front, in order) and try again on the next tick.
                    self._rows.extendleft(reversed(batch))
                    self._logger.warning("%s buffer could not be shipped; will retry", self.name, exc_info=True)
                    return shipped
                shipped += len(batch)

    def flush(self, *, stale_after_seconds: int = 120) -> int:
        """Ship this process's rows, then drain the shared Redis list into the table. Idempotent.

        The list is renamed to a private processing list first, so concurrent flushes never
        share a batch; a processing list left behind by a flush that died is drained again once
        it is older than `stale_after_seconds` (the replay inserts nothing twice).
        """
        shipped = self.ship()
        client = self._redis_client()
        if client is None:
            return shipped
        stored = 0
        now = int(time.time())
        for name in client.scan_iter(match=f"{self.processing_prefix}*", count=100):
            name = name.decode() if isinstance(name, bytes) else name
            started = int(name[len(self.processing_prefix):].split(":", 1)[0])
            if now - started > stale_after_seconds:
                stored += self._drain_list(client, name)
        processing = f"{self.processing_prefix}{now}:{uuid.uuid4().hex}"
        try:
            client.rename(self.buffer_key, processing)
        except Exception as exc:  # "no such key": nothing buffered
            if "no such key" not in str(exc).lower():
                raise
        else:
            stored += self._drain_list(client, processing)
        return stored

    def _drain_list(self, client, name: str) -> int:
        stored = 0
        while True:
            raw = client.lrange(name, 0, SHIP_BATCH - 1)
            if not raw:
                break
            self._store([json.loads(item) for item in raw])
            client.ltrim(name, len(raw), -1)  # only after the rows are committed: at-least-once
            stored += len(raw)
        client.delete(name)
        return stored

    def _store(self, rows: list[dict]) -> None:
        import_string(self._store_path)(rows=rows)

    def _take(self, limit: int) -> list[dict]:
        batch = []
        while self._rows and len(batch) < limit:
            batch.append(self._rows.popleft())
        return batch

    def _run(self) -> None:
        interval = settings.USAGE_SHIP_INTERVAL_SECONDS
        while True:
            time.sleep(interval)
            if self._rows:
                self.ship()
                from django.db import connection

                connection.close()  # this thread's own connection; don't hold it between ticks

    def _start_shipper(self) -> None:
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"{self.name}-shipper", daemon=True)
                self._thread.start()

    def _drain_on_exit(self) -> None:
        if self._rows:
            try:
                self.ship()
            except Exception:  # interpreter shutdown: report, never raise
                self._logger.exception("%s buffer could not be drained at exit (%d rows)", self.name, len(self._rows))
