"""The access log's buffer: appended to by a download, written to the table in bulk off it.

A `core.shipping.ShippedBuffer`, like the usage meter: a download never waits on an INSERT;
`files.services.access_log_flush` (beat, every 5 s; and before each access-log listing) drains
the rows into `FileAccessLog`. Each row carries its own `key` (a UUID), so a batch replayed after
a crash mid-flush is stored once.
"""
from __future__ import annotations

import logging
import uuid

from django.utils import timezone

from apikeys.gateway.store import redis_client
from core.shipping import ShippedBuffer

buffer = ShippedBuffer(
    name="file access-log",
    key_prefix="gs:files:access",
    store="files.services.access_log_store",
    redis_client=redis_client,
    logger=logging.getLogger("groundstation.files"),
)


def record(*, tenant_id, file_id, via: str, status: int, sent: int, ip: str | None,
           user_id=None, api_key_id=None, share_id=None) -> None:
    """Queue one download's row. Never blocks on I/O."""
    buffer.record({
        "key": uuid.uuid4().hex, "tenant": str(tenant_id), "file": str(file_id), "at": timezone.now().isoformat(),
        "via": via, "status": status, "bytes": sent, "ip": ip or None,
        "user": user_id and str(user_id), "api_key": api_key_id and str(api_key_id),
        "share": share_id and str(share_id),
    })
