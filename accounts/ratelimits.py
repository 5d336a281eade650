"""Brute-force limits on the auth endpoints (django-ratelimit counters in the cache).

- every auth endpoint: `AUTH_IP_RATE_LIMIT` per client IP;
- login and password reset also: `AUTH_RATE_LIMIT` per e-mail and per client IP + e-mail.

When the counter store (Redis) is down, `RATELIMIT_FAIL_OPEN` decides: true serves the request
unlimited (and logs it), false answers 503 SERVICE_UNAVAILABLE. Never a 500.
"""
import hashlib
import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from accounts.addresses import normalize_email
from core.api.client_ip import client_ip
from core.api.exceptions import RateLimitExceeded, ServiceUnavailable

logger = logging.getLogger("groundstation.ratelimit")


def _hit(request, *, group: str, rate: str, value: str) -> None:
    django_request = getattr(request, "_request", request)
    try:
        usage = get_usage(
            django_request, group=group, key=lambda _group, _request: value, rate=rate, increment=True
        )
    except (RedisError, OSError) as exc:
        if settings.RATELIMIT_FAIL_OPEN:
            logger.warning("auth rate-limit store unavailable; failing open", extra={"group": group})
            return
        raise ServiceUnavailable("The rate-limit store is unavailable; retry later.") from exc
    if usage and usage["should_limit"]:
        # time_left is -1 when the store answered nothing and we fail closed.
        retry_after = usage["time_left"] if usage["time_left"] > 0 else 60
        if usage["limit"] == 0:
            raise ServiceUnavailable("The rate-limit store is unavailable; retry later.")
        raise RateLimitExceeded(retry_after=retry_after, detail="Too many attempts; retry later.")


def limit_ip(request) -> None:
    """Every auth endpoint: one budget per client IP."""
    _hit(request, group="auth:ip", rate=settings.AUTH_IP_RATE_LIMIT, value=client_ip(request))


def limit_email(request, *, action: str, email: str) -> None:
    """Login and reset: one budget per e-mail (across IPs) and one per IP + e-mail."""
    # The stored normal form, so look-alikes share the real address's budget; hashed so
    # counters in Redis do not hold personal data.
    address = hashlib.sha256(normalize_email(email).encode()).hexdigest()
    _hit(request, group=f"auth:{action}:email", rate=settings.AUTH_RATE_LIMIT, value=address)
    _hit(
        request,
        group=f"auth:{action}:ip-email",
        rate=settings.AUTH_RATE_LIMIT,
        value=f"{client_ip(request)}|{address}",
    )
