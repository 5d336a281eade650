"""The API gateway middleware: rate limits, their headers, and usage metering.

Registered in `settings.MIDDLEWARE`; it is the keys app's because it knows keys, plans and users.

Runs for every request under `/api/v1/` and `/api/admin/`:

1. before the view (`process_view`), it identifies the caller from the credential (API key,
   personal token or JWT; without any SQL for a warm key), checks every window that applies
   and answers 429 `RATE_LIMIT_EXCEEDED` with `Retry-After` when one is exhausted;
2. after the response, it adds `X-RateLimit-Limit/Remaining/Reset` (the tightest window) and
   queues one usage record (`apikeys.gateway.metering`).

Views opt in to stricter per-tenant classes with `rate_limit_class = "execution"` (a class
attribute, a `{action: class}` dict, or `@action(..., rate_limit_class="execution")`), choose
their behaviour when the limiter's store is down with `rate_limit_fail_open = True|False`
(default `RATELIMIT_FAIL_OPEN`), and leave the gateway entirely with `gateway_exempt = True`.
"""
from __future__ import annotations

import hmac
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PersonalAccessToken
from apikeys.gateway import invalidation, metering, snapshots
from apikeys.gateway.credential_failures import CredentialFailures, TooManyFailures
from apikeys.gateway.store import CheckResult, StoreUnavailable, get_store
from apikeys.models import ApiKey
from core import credentials
from core.api.client_ip import client_ip
from core.api.credential import MalformedAuthorization, presented_credential
from core.api.errors import error_response
from core.api.routes import route_pattern
from core.rates import parse_rate

logger = logging.getLogger("groundstation.gateway")

API_PREFIXES = ("/api/v1/", "/api/admin/")
KEY_PREFIX = f"{ApiKey.PREFIX}_"
TOKEN_PREFIX = f"{PersonalAccessToken.PREFIX}_"
# After a store failure, skip it this long: an outage must not add a connect timeout to
# every request.
STORE_RETRY_SECONDS = 1.0
DUMMY_DIGEST = "0" * 64
clock = time.time  # the limiter's wall clock (windows are aligned to it); tests may pin it


@dataclass
class GatewayState:
    """Per-request record of what the gateway saw; read by the authentication class."""

    raw: str | None = None
    kind: str = ""  # key | pat | user
    snapshot: dict | None = None
    result: CheckResult | None = None
    headers: dict = field(default_factory=dict)
    exempt: bool = False
    routed: bool = False  # process_view ran (a view was resolved)


class _Health:
    """Logs the store's degradation once, and its recovery once, instead of per request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.retry_at = 0.0

    def skip(self) -> bool:
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, exc: Exception) -> None:
        with self.lock:
            self.retry_at = time.monotonic() + STORE_RETRY_SECONDS
            if self.down_since is None:
                self.down_since = time.monotonic()
                mode = "open (serving without limits)" if settings.RATELIMIT_FAIL_OPEN else "closed (503)"
                logger.error("rate-limit store unreachable; failing %s: %s", mode, exc)

    def recovered(self) -> None:
        if self.down_since is not None:
            with self.lock:
                if self.down_since is not None:
                    logger.warning("rate-limit store reachable again after %.1f s", time.monotonic() - self.down_since)
                    self.down_since = None


health = _Health()


def _class_limits(name: str) -> tuple:
    rates = settings.RATE_LIMIT_CLASSES.get(name, [])
    return tuple(parse_rate(text).as_limit(f"c:{name}") for text in rates)


def _view_attribute(view_func, request, name: str, default=None):
    """A view setting: `@action(...)` kwargs first, then the class attribute (maybe per action)."""
    initkwargs = getattr(view_func, "initkwargs", None) or {}
    if name in initkwargs:
        return initkwargs[name]
    value = getattr(getattr(view_func, "cls", None), name, default)
    if isinstance(value, dict):
        action = (getattr(view_func, "actions", None) or {}).get(request.method.lower())
        return value.get(action, default)
    return value


def _jwt_user_id(raw: str) -> str | None:
    try:
        return str(AccessToken(raw)[jwt_settings.USER_ID_CLAIM])
    except (TokenError, KeyError):
        return None


def _accepts(snapshot: dict | None, digest: str) -> bool:
    """The credential is known, its secret right, and it is usable (compared in constant time,
    against a dummy for an unknown id, so both cost the same)."""
    stored = snapshot.get("digest") if snapshot and snapshot.get("kind") in ("key", "pat") else None
    matches = hmac.compare_digest(stored or DUMMY_DIGEST, digest)
    return stored is not None and matches and snapshots.is_valid(snapshot)


class GatewayMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIXES):
            return self.get_response(request)
        started = time.perf_counter()
        request.gateway = state = GatewayState()
        response = self.get_response(request)
        if state.exempt:
            return response
        if not state.routed:
            # No view was resolved (an unknown URL): the caller is still identified, limited and
            # metered, so probing unknown paths is neither free nor missing from the tenant's usage.
            response = self._admit_unrouted(request, state) or response
        for name, value in state.headers.items():
            response[name] = value
        try:
            self._meter(request, state, response, started)
        except Exception:  # metering must never break a response
            logger.exception("could not meter a request")
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        state = getattr(request, "gateway", None)
        if state is None:
            return None
        state.routed = True
        if _view_attribute(view_func, request, "gateway_exempt", False):
            state.exempt = True
            return None
        return self._admit_presented(request, state, view_func)

    def _admit_unrouted(self, request, state: GatewayState):
        return self._admit_presented(request, state, None)

    def _admit_presented(self, request, state: GatewayState, view_func):
        try:
            state.raw = presented_credential(request)
        except MalformedAuthorization:  # the authentication class answers 401 for it
            return None
        if state.raw is None:
            return None
        try:
            return self._admit(request, state, view_func)
        except Exception:  # the gateway must never turn a request into a 500
            logger.exception("rate limiter failed; request admitted")
            return None

    # --- admission ------------------------------------------------------------------------
    def _identify(self, request, raw: str):
        """(kind, cache key, builder, selector, presented digest) or None when not ours."""
        tenant_header = request.META.get("HTTP_X_TENANT", "").strip()
        if raw.startswith((KEY_PREFIX, TOKEN_PREFIX)):
            parsed = credentials.parse(raw)
            if parsed is None:
                return None
            if raw.startswith(KEY_PREFIX):
                public_id = parsed.public_id
                return ("key", snapshots.key_cache_key(public_id), lambda: snapshots.build_key_snapshot(public_id),
                        "", credentials.digest(raw))
            return ("pat", snapshots.pat_cache_key(parsed.public_id),
                    lambda: snapshots.build_pat_snapshot(parsed.public_id), tenant_header, credentials.digest(raw))
        user_id = _jwt_user_id(raw)
        if user_id is None:
            return None
        return ("user", snapshots.user_cache_key(user_id), lambda: snapshots.build_user_snapshot(user_id),
                tenant_header, "")

    def _admit(self, request, state: GatewayState, view_func):
        identity = self._identify(request, state.raw)
        if identity is None:
            return None
        state.kind, cache_key, build, selector, digest = identity
        failures = None
        if state.kind in ("key", "pat"):
            failures = CredentialFailures(client_ip(request), now=clock())
            build = failures.guarded(build)  # no database lookup for an IP out of guesses
        try:
            return self._admit_checked(request, state, view_func, cache_key, build, selector, digest, failures)
        except TooManyFailures as exc:
            return error_response(429, message="Too many failed authentications from this address; retry later.",
                                  headers={"Retry-After": str(exc.retry_after)})

    def _admit_checked(self, request, state, view_func, cache_key, build, selector, digest, failures):
        route_class = _view_attribute(view_func, request, "rate_limit_class")
        extra = [list(limit) for limit in _class_limits(route_class)] if route_class else []
        now = clock()
        count = settings.RATELIMIT_ENABLE
        if health.skip():
            return self._degraded(request, state, view_func, build, None)
        try:
            if invalidation.pending_here():  # drops this process could not make come first
                invalidation.retry_pending()
            result = get_store().check(
                cache_key, build, selector=selector, extra=extra, now=now, count=count, digest=digest,
                ttl=settings.APIKEY_CACHE_SECONDS,
            )
        except StoreUnavailable as exc:
            return self._degraded(request, state, view_func, build, exc)
        health.recovered()
        state.snapshot, state.result = result.snapshot, result
        if failures is not None and not _accepts(result.snapshot, digest):
            failures.record()
        if not result.limits:
            return None
        return self._decide(state, result, now)

    def _degraded(self, request, state, view_func, build, exc):
        if exc is not None:
            health.failed(exc)
        state.snapshot = build()
        fail_open = _view_attribute(view_func, request, "rate_limit_fail_open")
        if fail_open is None:
            fail_open = settings.RATELIMIT_FAIL_OPEN
        if fail_open or not settings.RATELIMIT_ENABLE:
            return None
        return error_response(503, message="Rate limiting is unavailable; retry later.", headers={"Retry-After": "1"})

    @staticmethod
    def _decide(state: GatewayState, result: CheckResult, now: float):
        states = [_limit_state(limit, value, now) for limit, value in zip(result.limits, result.counts, strict=True)]
        if result.blocked:
            # The refusal that lasts longest is the one to wait for.
            blocking = max((s for s in states if s.blocked), key=lambda s: s.retry_after)
            retry_after = max(1, math.ceil(blocking.retry_after))
            state.headers = blocking.headers(remaining=0)
            return error_response(
                429, message=f"Rate limit of {blocking.text} exceeded; retry in {retry_after} s.",
                headers={**state.headers, "Retry-After": str(retry_after)},
            )
        tightest = min(states, key=lambda s: (s.remaining, s.reset))
        state.headers = tightest.headers(remaining=tightest.remaining)
        return None

    # --- metering -------------------------------------------------------------------------
    @staticmethod
    def _meter(request, state: GatewayState, response, started: float) -> None:
        snapshot = state.snapshot or {}
        tenant = getattr(request, "tenant", None)
        user = getattr(request, "user", None)
        user_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
        if user_id is None and state.kind in ("pat", "user"):
            user_id = snapshot.get("user_id")
        metering.record({
            "id": str(uuid.uuid4()),
            "request_id": getattr(request, "request_id", ""),
            "tenant_id": str(tenant.pk) if tenant is not None else snapshot.get("tenant_id")
            or (state.result.tenant_id if state.result else None),
            "api_key_id": snapshot.get("key_id"),
            "user_id": str(user_id) if user_id else None,
            "route": route_pattern(request),
            "method": request.method,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "at": datetime.now(UTC).isoformat(),
        })


@dataclass(frozen=True)
class _LimitState:
    """One limit after a check, as the `X-RateLimit-*` headers describe it."""

    capacity: int  # a window's limit, a bucket's burst
    remaining: int
    reset: int  # epoch seconds: the window's end, or when the bucket's next token arrives
    retry_after: float  # seconds until this limit would let one request through
    blocked: bool
    text: str

    def headers(self, *, remaining: int) -> dict:
        return {"X-RateLimit-Limit": str(self.capacity), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(self.reset)}


def _limit_state(limit: list, value: float, now: float) -> _LimitState:
    _, rate, period, *burst = limit
    if not burst:  # a fixed window: `value` is the count so far
        reset = (int(now) // period + 1) * period
        return _LimitState(rate, max(rate - int(value), 0), reset, reset - now, value >= rate, f"{rate} requests")
    capacity, seconds_per_token = burst[0], period / rate
    missing = 0.0 if value >= capacity else 1 - (value % 1)  # of the next whole token
    wait = missing * seconds_per_token
    return _LimitState(capacity, int(value), math.ceil(now + wait), wait, value < 1,
                       f"{rate} requests per {period} s (burst {capacity})")
