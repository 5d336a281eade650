"""Failed API-key and personal-token authentications, limited per client IP.

Guessing `gsk_`/`gsp_` credentials must not be free: every unknown public id is a database
lookup (the negative cache only helps for repeats) and every failure a chance. Once a client IP
has failed `CREDENTIAL_FAILURE_RATE_LIMIT` times in the window, its credentials that the
snapshot cache cannot vouch for answer 429 without a database lookup until the window ends;
warm, valid credentials from that IP are unaffected (they cost no lookup and are no guess).
"""
import logging
import time

from django.conf import settings
from django.core.cache import cache

from core.rates import parse_rate

logger = logging.getLogger("groundstation.gateway")
PREFIX = "gs:credfail:"


class TooManyFailures(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class CredentialFailures:
    def __init__(self, ip: str, now: float | None = None):
        rate = parse_rate(settings.CREDENTIAL_FAILURE_RATE_LIMIT)
        self.limit, self.period = rate.limit, rate.period
        now = int(now if now is not None else time.time())
        window = now // self.period
        self.key = f"{PREFIX}{ip}:{self.period}:{window}"
        self.retry_after = max(1, (window + 1) * self.period - now)

    def _count(self) -> int:
        try:
            return int(cache.get(self.key) or 0)
        except Exception:  # the limiter's store is down: the gateway already degrades, so do we
            return 0

    def check(self) -> None:
        """Raise TooManyFailures when this IP is over its budget (call before any lookup)."""
        if settings.RATELIMIT_ENABLE and self._count() >= self.limit:
            raise TooManyFailures(self.retry_after)

    def guarded(self, build):
        def guarded_build():
            self.check()
            return build()

        return guarded_build

    def record(self) -> None:
        """One more failure; raise TooManyFailures if that exhausted the budget."""
        if not settings.RATELIMIT_ENABLE:
            return
        try:
            cache.add(self.key, 0, self.period + 1)
            count = cache.incr(self.key)
        except Exception:
            logger.warning("could not count a failed credential", exc_info=True)
            return
        if count > self.limit:
            raise TooManyFailures(self.retry_after)
