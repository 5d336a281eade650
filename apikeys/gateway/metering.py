"""The usage meter's buffer: every call record appended in the request path, shipped off it.

A `core.shipping.ShippedBuffer`: `record()` costs a deque append; the records reach Redis (or,
in the embedded default, the table) from a daemon thread, and `apikeys.services.usage_flush`
(beat) drains them into `ApiCall`. Every record carries a gateway-minted `id`, so replays are
counted once (unique key).
"""
from __future__ import annotations

import logging

from apikeys.gateway.store import redis_client
from core.shipping import ShippedBuffer

meter = ShippedBuffer(
    name="usage",
    key_prefix="gs:usage",
    store="apikeys.services.usage_calls_store",
    redis_client=redis_client,
    logger=logging.getLogger("groundstation.gateway"),
)
record = meter.record
