"""Where snapshots and rate-limit counters live: Redis (one Lua round trip) or the local cache.

Both stores answer `check()` with the same semantics: read the credential's snapshot; if limits
are on, read every limit's state, and only when *all* have room spend one from each. Rejected
requests therefore consume no budget, and the check-then-spend is atomic (Lua in Redis; a
process lock around the local-memory cache, which is per-process anyway), so N parallel clients
get exactly what the limits allow.

Two kinds of limit can apply at once (the tightest wins):
- fixed windows `[bucket, limit, period]`, aligned to the epoch (a day is a UTC day): a counter
  per window, written with a TTL to the window's end, so no counter outlives its window;
- token buckets `[bucket, rate, period, burst]`: `"tokens:last_ms"`, refilled at `rate` per
  `period` up to `burst` when read, kept only until it would be full again (an absent bucket is
  a full one). The count reported for a bucket is the tokens left (a float).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from apikeys.gateway import snapshots

COUNTER_PREFIX = "gs:rl:"
NEGATIVE = {"kind": "none"}  # cached "no such credential", so garbage keys cost no SQL either
NEGATIVE_TTL = 60

CHECK_SCRIPT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local snap = cjson.decode(raw)
if snap.kind == 'none' or ARGV[5] == '0' then return {raw, 0, '[]'} end
-- Only a genuine, usable credential spends budget: a forged secret for a known public id
-- must not exhaust its tenant's limits.
if ARGV[6] ~= '' and snap.digest ~= ARGV[6] then return {raw, 0, '[]'} end
if snap.revoked or (snap.expires ~= nil and snap.expires ~= cjson.null and snap.expires <= tonumber(ARGV[1])) then
  return {raw, 0, '[]'}
end
local chosen = snap.set
if not chosen then
  chosen = snap.sets[ARGV[2]]
  if not chosen then chosen = snap.sets[''] end
end
local limits = {}
for _, l in ipairs(chosen.limits) do table.insert(limits, l) end
if chosen.tenant ~= nil and chosen.tenant ~= cjson.null then
  for _, l in ipairs(cjson.decode(ARGV[3])) do
    table.insert(limits, {l[1] .. ':' .. chosen.tenant, l[2], l[3], l[4]})
  end
end
local now = tonumber(ARGV[1])
local now_ms = tonumber(ARGV[7])
local keys, counts, blocked = {}, {}, 0
for i, l in ipairs(limits) do
  if l[4] then
    keys[i] = ARGV[4] .. l[1] .. ':' .. l[3] .. ':tb'
    local tokens, state = l[4], redis.call('GET', keys[i])
    if state then
      local sep = string.find(state, ':', 1, true)
      local stored, last = tonumber(string.sub(state, 1, sep - 1)), tonumber(string.sub(state, sep + 1))
      tokens = math.min(l[4], stored + math.max(0, now_ms - last) * l[2] / (l[3] * 1000))
    end
    counts[i] = tokens
    if tokens < 1 then blocked = 1 end
  else
    keys[i] = ARGV[4] .. l[1] .. ':' .. l[3] .. ':' .. math.floor(now / l[3])
    counts[i] = tonumber(redis.call('GET', keys[i]) or '0')
    if counts[i] >= l[2] then blocked = 1 end
  end
end
if blocked == 0 then
  for i, l in ipairs(limits) do
    if l[4] then
      counts[i] = counts[i] - 1
      local until_full = math.ceil((l[4] - counts[i]) * l[3] * 1000 / l[2])
      redis.call('SET', keys[i], string.format('%.6f', counts[i]) .. ':' .. now_ms, 'PX', until_full + 1000)
    else
      counts[i] = redis.call('INCR', keys[i])
      if counts[i] == 1 then
        redis.call('EXPIRE', keys[i], (math.floor(now / l[3]) + 1) * l[3] - now + 1)
      end
    end
  end
end
return {raw, blocked, cjson.encode(counts)}
"""


class StoreUnavailable(Exception):
    """The limiter's store (Redis) did not answer."""


@dataclass
class CheckResult:
    snapshot: dict | None  # None: no such credential
    blocked: bool = False
    limits: list[list] = field(default_factory=list)  # [bucket, limit, period], tenant-expanded
    # windows: the count after the increment (current if blocked); buckets: the tokens left
    counts: list[float] = field(default_factory=list)
    tenant_id: str | None = None


def _result(snapshot: dict, blocked: bool, counts: list[int], selector: str, extra: list[list]) -> CheckResult:
    if snapshot.get("kind") == "none":
        return CheckResult(snapshot=None)
    tenant_id, limits = snapshots.select_limits(snapshot, selector, extra)
    if not counts:  # limits off: nothing was counted
        limits = []
    return CheckResult(snapshot=snapshot, blocked=blocked, limits=limits, counts=counts, tenant_id=tenant_id)


class RedisStore:
    """One process-wide connection pool per cache configuration.

    Not Django's cache object: `caches[...]` is per context under ASGI, so a pool hung on it
    would mean a new connection per request.
    """

    def __init__(self, config: dict):
        import redis

        location = config["LOCATION"]
        url = (location.split(",") if isinstance(location, str) else list(location))[0]
        options = {k: v for k, v in config.get("OPTIONS", {}).items() if k not in ("pool_class", "parser_class")}
        self.client = redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, **options))
        self.script = self.client.register_script(CHECK_SCRIPT)

    def check(
        self, cache_key, build: Callable[[], dict | None], *, selector, extra, now, count, ttl, digest=""
    ) -> CheckResult:
        import redis

        args = [int(now), selector, json.dumps(extra), COUNTER_PREFIX, "1" if count else "0", digest, round(now * 1000)]
        try:
            reply = self.script(keys=[cache_key], args=args)
            if reply is None:  # cold: load from the database once, then ask again
                snapshot = build()
                self.client.set(cache_key, snapshots.dumps(snapshot or NEGATIVE), ex=ttl if snapshot else NEGATIVE_TTL)
                reply = self.script(keys=[cache_key], args=args)
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        if reply is None:  # evicted between the two calls; treat as not counted
            return CheckResult(snapshot=build())
        raw, blocked, counts = reply
        return _result(json.loads(raw), bool(blocked), json.loads(counts) or [], selector, extra)

    def forget(self, cache_keys: list[str]) -> None:
        import redis

        if not cache_keys:
            return
        try:
            self.client.delete(*cache_keys)
        except redis.RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc


class LocalStore:
    """The embedded default: Django's local-memory cache, made atomic with one process lock."""

    _lock = threading.Lock()

    def __init__(self, cache):
        self.cache = cache

    def check(self, cache_key, build, *, selector, extra, now, count, ttl, digest="") -> CheckResult:
        raw = self.cache.get(cache_key)
        if raw is None:
            snapshot = build()
            raw = snapshots.dumps(snapshot or NEGATIVE)
            self.cache.set(cache_key, raw, ttl if snapshot else NEGATIVE_TTL)
        snapshot = json.loads(raw)
        spends = count and (not digest or snapshot.get("digest") == digest) and snapshots.is_valid(snapshot, now)
        if snapshot.get("kind") == "none" or not spends:
            return _result(snapshot, False, [], selector, extra)
        _, limits = snapshots.select_limits(snapshot, selector, extra)
        with self._lock:
            states = [_LocalLimit(self.cache, limit, now) for limit in limits]
            blocked = any(not state.has_room() for state in states)
            counts = [state.spend() if not blocked else state.value for state in states]
        return _result(snapshot, blocked, counts, selector, extra)

    def forget(self, cache_keys: list[str]) -> None:
        self.cache.delete_many(cache_keys)


class _LocalLimit:
    """One window or bucket in the local-memory cache, with the Lua script's arithmetic."""

    def __init__(self, cache, limit: list, now: float):
        self.cache, self.now, now_ms = cache, now, round(now * 1000)
        bucket, self.limit, self.period, *burst = limit
        self.burst = burst[0] if burst else None
        if self.burst is None:
            self.key = f"{COUNTER_PREFIX}{bucket}:{self.period}:{int(now) // self.period}"
            self.value = self.cache.get(self.key, 0)
        else:
            self.key = f"{COUNTER_PREFIX}{bucket}:{self.period}:tb"
            tokens, last_ms = self.cache.get(self.key, (self.burst, now_ms))
            self.value = min(self.burst, tokens + max(0, now_ms - last_ms) * self.limit / (self.period * 1000))
            self.now_ms = now_ms

    def has_room(self) -> bool:
        return self.value >= 1 if self.burst is not None else self.value < self.limit

    def spend(self) -> float:
        if self.burst is None:
            self.value += 1
            self.cache.set(self.key, self.value, (int(self.now) // self.period + 1) * self.period - int(self.now) + 1)
        else:
            self.value -= 1
            until_full = (self.burst - self.value) * self.period / self.limit
            self.cache.set(self.key, (self.value, self.now_ms), until_full + 1)
        return self.value


REDIS_BACKEND = f"{RedisCache.__module__}.{RedisCache.__name__}"
_redis_stores: dict[tuple, RedisStore] = {}
_redis_stores_lock = threading.Lock()


def get_store() -> RedisStore | LocalStore:
    """The store for the `default` cache's current configuration (settings overrides apply)."""
    config = settings.CACHES["default"]
    if config["BACKEND"] != REDIS_BACKEND:
        return LocalStore(caches["default"])
    ident = (str(config["LOCATION"]), repr(sorted(config.get("OPTIONS", {}).items())))
    store = _redis_stores.get(ident)
    if store is None:
        with _redis_stores_lock:
            store = _redis_stores.setdefault(ident, RedisStore(config))
    return store


def redis_client():
    """The raw Redis client behind the limiter, or None in the embedded default."""
    store = get_store()
    return store.client if isinstance(store, RedisStore) else None
