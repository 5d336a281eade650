"""Recommendation figures on `/metrics`: requests by strategy and engine, and a latency histogram.

Answers are served by several web processes while a scrape reaches one of them, so the figures
are shared through the cache (Redis in production): each process counts in memory on the
request path (no I/O there) and a background thread adds its counts to shared cache counters
every `FLUSH_SECONDS`; a scrape adds its own process's pending counts first, then reads the
shared totals. With the per-process local-memory cache (no REDIS_URL) the figures are that
process's. Counts a process had not yet flushed when it exited are lost (at most FLUSH_SECONDS).
Registered from RecommendationsConfig.ready() into prometheus_client's registry.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter

from django.core.cache import cache
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY

logger = logging.getLogger("groundstation.recommendations.metrics")

FLUSH_SECONDS = 5.0
BUCKETS_SECONDS = (0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
STRATEGIES = ("personalized", "popular")
ENGINES = ("local", "remote", "fallback")  # fallback: the remote engine failed, popularity answered
PREFIX = "recommendations:metrics:"
REQUEST_KEYS = {(strategy, engine): f"{PREFIX}requests:{strategy}:{engine}" for strategy in STRATEGIES
                for engine in ENGINES}
BUCKET_KEYS = {bound: f"{PREFIX}latency_le:{bound}" for bound in BUCKETS_SECONDS}
OVERFLOW_KEY = f"{PREFIX}latency_le:inf"
SUM_KEY = f"{PREFIX}latency_sum_us"  # integer microseconds: cache counters add integers


class _Pending:
    """This process's counts not yet added to the shared counters."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Counter = Counter()
        self._flusher_pid = 0

    def add(self, strategy: str, engine: str, seconds: float) -> None:
        bucket = next((BUCKET_KEYS[bound] for bound in BUCKETS_SECONDS if seconds <= bound), OVERFLOW_KEY)
        with self._lock:
            self._counts[REQUEST_KEYS[(strategy, engine)]] += 1
            self._counts[bucket] += 1
            self._counts[SUM_KEY] += int(seconds * 1_000_000)
            if self._flusher_pid != os.getpid():  # first answer of this process (or of a fork)
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._flush_forever, name="recommendation-metrics", daemon=True).start()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        try:
            for key, amount in counts.items():
                try:
                    cache.incr(key, amount)
                except ValueError:  # the first count of this key anywhere
                    if not cache.add(key, amount, timeout=None):
                        cache.incr(key, amount)
        except Exception:  # the cache is down: keep the counts for the next flush
            logger.warning("recommendation metrics: flush to the cache failed", exc_info=True)
            with self._lock:
                self._counts.update(counts)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.flush()


pending = _Pending()


def observe(strategy: str, engine: str, seconds: float) -> None:
    """One answered recommendation (called on the request path: memory only)."""
    pending.add(strategy, engine, seconds)


class RecommendationsCollector:
    def describe(self):
        yield CounterMetricFamily("groundstation_recommendation_requests", "", labels=["strategy", "engine"])
        yield HistogramMetricFamily("groundstation_recommendation_latency_seconds", "")

    def collect(self):
        requests = CounterMetricFamily("groundstation_recommendation_requests", "Recommendations answered, "
                                       "by strategy and engine", labels=["strategy", "engine"])
        pending.flush()
        try:
            totals = cache.get_many([*REQUEST_KEYS.values(), *BUCKET_KEYS.values(), OVERFLOW_KEY, SUM_KEY])
        except Exception:
            logger.warning("recommendation metrics unavailable: cache error")
            return
        for (strategy, engine), key in REQUEST_KEYS.items():
            requests.add_metric([strategy, engine], totals.get(key, 0))
        yield requests
        cumulative, buckets = 0, []
        for bound, key in BUCKET_KEYS.items():
            cumulative += totals.get(key, 0)
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", cumulative + totals.get(OVERFLOW_KEY, 0)))
        yield HistogramMetricFamily("groundstation_recommendation_latency_seconds",
                                    "Time to answer POST /api/v1/recommendations inside the app",
                                    buckets=buckets, sum_value=totals.get(SUM_KEY, 0) / 1_000_000)


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(RecommendationsCollector())
        _registered = True
