"""Prometheus metrics of the fleet, exported by `/metrics` through django-prometheus' registry.

Checks run in workers while `/metrics` is served by web processes, so in-process counters
would show only one process's share. Instead:
- node/group status and open incidents are read from the database at scrape time (a few
  GROUP BY queries; labels are tenant slug × status, so cardinality is bounded by tenants);
- checks run and the latency histogram are counters kept in the cache (Redis in production,
  shared by every process; per process with the embedded local-memory cache).
"""
import logging
from collections import Counter

from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY

logger = logging.getLogger("groundstation.monitoring.metrics")

LATENCY_BUCKETS_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PREFIX = "monitoring:metrics:"
STATUSES = ("up", "down", "degraded", "unknown")


def _incr(key: str, amount: int) -> None:
    if amount:
        try:
            cache.incr(PREFIX + key, amount)
        except ValueError:  # first write of this key
            cache.add(PREFIX + key, 0, timeout=None)
            cache.incr(PREFIX + key, amount)


def record_checks(snapshots) -> None:
    """Count a batch of check results (called once per batch, after commit)."""
    try:
        statuses = Counter(s.status for s in snapshots)
        buckets = Counter()
        timed = [s.latency_ms for s in snapshots if s.latency_ms is not None]
        for latency_ms in timed:
            for bound in LATENCY_BUCKETS_SECONDS:
                if latency_ms / 1000 <= bound:
                    buckets[bound] += 1
        for status, count in statuses.items():
            _incr(f"checks:{status}", count)
        for bound, count in buckets.items():
            _incr(f"latency_le:{bound}", count)
        _incr("latency_count", len(timed))
        _incr("latency_sum_ms", int(sum(timed)))
    except Exception:  # metrics must never break a check batch
        logger.warning("recording check metrics failed", exc_info=True)


def record_incident_opened() -> None:
    try:
        _incr("incidents_opened", 1)
    except Exception:
        logger.warning("recording incident metric failed", exc_info=True)


class FleetCollector:
    """Collects at scrape time; registered once in MonitoringConfig.ready()."""

    def describe(self):
        # Lets the registry learn the names without querying the database at start-up.
        yield GaugeMetricFamily("groundstation_nodes", "", labels=["tenant", "status"])
        yield GaugeMetricFamily("groundstation_node_groups", "", labels=["tenant", "status"])
        yield GaugeMetricFamily("groundstation_incidents_open", "", labels=["tenant"])
        yield CounterMetricFamily("groundstation_checks", "", labels=["status"])
        yield HistogramMetricFamily("groundstation_check_latency_seconds", "")
        yield CounterMetricFamily("groundstation_incidents_opened", "")

    def collect(self):
        from monitoring.models import Incident, Node, NodeGroup

        nodes = GaugeMetricFamily("groundstation_nodes", "Nodes by tenant and status", labels=["tenant", "status"])
        groups = GaugeMetricFamily(
            "groundstation_node_groups", "Quorum groups by tenant and status", labels=["tenant", "status"]
        )
        incidents = GaugeMetricFamily("groundstation_incidents_open", "Open incidents by tenant", labels=["tenant"])
        try:
            for model, family in ((Node, nodes), (NodeGroup, groups)):
                rows = model.objects.values_list("tenant__slug", "status").annotate(n=Count("pk")).order_by()
                for slug, status, count in rows:
                    family.add_metric([slug, status], count)
            rows = (
                Incident.objects.filter(state=Incident.State.OPEN)
                .values_list("tenant__slug").annotate(n=Count("pk")).order_by()
            )
            for slug, count in rows:
                incidents.add_metric([slug], count)
        except DatabaseError:
            logger.warning("fleet metrics unavailable: database error")
        yield nodes
        yield groups
        yield incidents

        try:
            values = cache.get_many(
                [f"{PREFIX}checks:{s}" for s in STATUSES]
                + [f"{PREFIX}latency_le:{b}" for b in LATENCY_BUCKETS_SECONDS]
                + [f"{PREFIX}latency_count", f"{PREFIX}latency_sum_ms", f"{PREFIX}incidents_opened"]
            )
        except Exception:  # a cache outage must not fail the whole scrape
            logger.warning("check counters unavailable: cache error")
            values = {}
        checks = CounterMetricFamily("groundstation_checks", "Checks run, by result", labels=["status"])
        for status in STATUSES[:3]:
            checks.add_metric([status], values.get(f"{PREFIX}checks:{status}", 0))
        yield checks
        count = values.get(f"{PREFIX}latency_count", 0)
        cumulative = [(str(b), values.get(f"{PREFIX}latency_le:{b}", 0)) for b in LATENCY_BUCKETS_SECONDS]
        yield HistogramMetricFamily(
            "groundstation_check_latency_seconds",
            "Check latency",
            buckets=[*cumulative, ("+Inf", count)],
            sum_value=values.get(f"{PREFIX}latency_sum_ms", 0) / 1000,
        )
        opened = CounterMetricFamily("groundstation_incidents_opened", "Incidents opened")
        opened.add_metric([], values.get(f"{PREFIX}incidents_opened", 0))
        yield opened


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(FleetCollector())
        _registered = True
