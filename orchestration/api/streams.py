"""Caps on concurrent SSE log streams per credential and per tenant, across processes.

Each open stream holds a lease in one Redis sorted set per scope (member: the stream's id,
score: when the lease runs out), renewed while it streams; a process that dies leaves leases
that lapse within LEASE_SECONDS, so no count drifts. Embedded (no Redis): the same in process
memory. Over a cap the request is refused with 429 before any stream starts.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid

from django.conf import settings

from apikeys.gateway.store import redis_client
from core.api.exceptions import RateLimitExceeded, ServiceUnavailable

logger = logging.getLogger("groundstation.orchestration")

LEASE_SECONDS = 60
RENEW_EVERY_SECONDS = 10  # a stream yields at least every 15 s (keep-alive), renewing the lease
RETRY_AFTER_SECONDS = 5
PREFIX = "sse:streams:"

# KEYS: the scopes' sets; ARGV: now, lease end, member, then each scope's cap.
ACQUIRE = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('EXPIRE', key, math.ceil(ARGV[2] - ARGV[1]) + 1)
end
return 0
"""

_local: dict[str, dict[str, float]] = {}
_local_lock = threading.Lock()


class StreamSlot:
    """The lease of one stream in the scopes (credential, tenant) it counts against."""

    def __init__(self, *, credential: str, tenant_id: str):
        digest = hashlib.sha256(credential.encode()).hexdigest()[:32]
        self.scopes = [
            (f"{PREFIX}credential:{digest}", settings.SSE_MAX_STREAMS_PER_CREDENTIAL, "credential"),
            (f"{PREFIX}tenant:{tenant_id}", settings.SSE_MAX_STREAMS_PER_TENANT, "tenant"),
        ]
        self.member = uuid.uuid4().hex
        self.renewed = 0.0
        self.released = False

    def acquire(self) -> None:
        """Take a slot in every scope, or raise 429 naming the scope at its cap."""
        now = time.time()
        client = redis_client()
        if client is None:
            full = self._acquire_local(now)
        else:
            import redis

            try:
                script = client.register_script(ACQUIRE)
                full = int(script(keys=[key for key, _, _ in self.scopes],
                                  args=[now, now + LEASE_SECONDS, self.member, *[cap for _, cap, _ in self.scopes]]))
            except redis.RedisError as exc:
                if not settings.RATELIMIT_FAIL_OPEN:
                    raise ServiceUnavailable() from exc
                logger.warning("stream caps unavailable: stream allowed", extra={"error": type(exc).__name__})
                self.released = True  # nothing to renew or release
                return
        if full:
            _, cap, scope = self.scopes[full - 1]
            self.released = True
            raise RateLimitExceeded(
                RETRY_AFTER_SECONDS, detail=f"At most {cap} concurrent log streams per {scope}; close one first."
            )
        self.renewed = time.monotonic()

    def _acquire_local(self, now: float) -> int:
        with _local_lock:
            for index, (key, cap, _) in enumerate(self.scopes, start=1):
                leases = _local.setdefault(key, {})
                for member, until in list(leases.items()):
                    if until <= now:
                        del leases[member]
                if len(leases) >= cap:
                    return index
            for key, _, _ in self.scopes:
                _local[key][self.member] = now + LEASE_SECONDS
        return 0

    def renew(self) -> None:
        if self.released or time.monotonic() - self.renewed < RENEW_EVERY_SECONDS:
            return
        self.renewed = time.monotonic()
        self._set(time.time() + LEASE_SECONDS)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._set(None)

    def _set(self, until: float | None) -> None:
        client = redis_client()
        if client is None:
            with _local_lock:
                for key, _, _ in self.scopes:
                    if until is None:
                        _local.get(key, {}).pop(self.member, None)
                    elif self.member in _local.get(key, {}):
                        _local[key][self.member] = until
            return
        import redis

        try:
            with client.pipeline(transaction=False) as pipe:
                for key, _, _ in self.scopes:
                    if until is None:
                        pipe.zrem(key, self.member)
                    else:
                        pipe.zadd(key, {self.member: until}, xx=True)
                        pipe.expire(key, LEASE_SECONDS + 1)
                pipe.execute()
        except redis.RedisError:  # the lease lapses by itself
            logger.warning("could not renew or release a stream slot", exc_info=True)


class HeldStream:
    """A sync SSE stream that keeps its slot while it streams and gives it back when the
    response is closed (Django calls `close()`: at the end, on an error or a disconnect)."""

    def __init__(self, stream, slot: StreamSlot):
        self.stream = stream
        self.slot = slot

    def __iter__(self):
        for event in self.stream:
            self.slot.renew()
            yield event

    def close(self) -> None:
        self.slot.release()
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


class AsyncHeldStream(HeldStream):
    """The same for an async stream (ASGI): iterated with `async for` only."""

    __iter__ = None  # Django must not take it for a sync iterator

    def __aiter__(self):
        return self._events()

    async def _events(self):
        from asgiref.sync import sync_to_async

        async for event in self.stream:
            if time.monotonic() - self.slot.renewed >= RENEW_EVERY_SECONDS:
                await sync_to_async(self.slot.renew, thread_sensitive=False)()
            yield event

    def close(self) -> None:
        self.slot.release()  # the async generator itself is closed by the handler
