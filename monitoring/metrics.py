"""Prometheus metrics of the platform, exported by `/metrics` through django-prometheus' registry.

Checks run in workers while `/metrics` is served by web processes, so in-process counters
would show only one process's share. Every figure here is platform-wide instead:
- node/group status and open incidents are read from the database at scrape time (a few
  GROUP BY queries; labels are tenant id × status, bounded by tenants); runs by status are
  orchestration's own collector (`orchestration/metrics.py`), so monitoring does not import it;
- checks run, their latency histogram and incidents opened are counters in the database
  (`MetricCounter` rows that every worker adds to with one upsert statement per check batch), so
  they are shared by every process in every deployment shape and survive restarts.
"""
import logging
from collections import Counter

from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY

logger = logging.getLogger("groundstation.monitoring.metrics")

LATENCY_BUCKETS_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATUSES = ("up", "down", "degraded", "unknown")


def _add(amounts: dict[str, int]) -> None:
    """Add to several counters in one statement per counter, inside one short transaction."""
    from monitoring.models import MetricCounter

    rows = [(key, amount) for key, amount in amounts.items() if amount]
    if not rows:
        return
    table = connection.ops.quote_name(MetricCounter._meta.db_table)
    # INSERT … ON CONFLICT DO UPDATE is atomic on SQLite and PostgreSQL: concurrent workers
    # never lose an increment, and the first one creates the row.
    sql = (
        f"INSERT INTO {table} (name, value) VALUES (%s, %s) "  # noqa: S608 (table name from the model)
        f"ON CONFLICT (name) DO UPDATE SET value = {table}.value + excluded.value"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, sorted(rows))  # sorted: concurrent batches lock rows in one order


def record_checks(snapshots) -> None:
    """Count a batch of check results (called once per batch, after commit)."""
    record_outcomes([(s.status, s.latency_ms) for s in snapshots])


def record_outcomes(outcomes: list[tuple[str, float | None]]) -> None:
    """`record_checks` for plain `(status, latency_ms)` pairs (what a polled batch has)."""
    try:
        statuses = Counter(status for status, _latency in outcomes)
        buckets = Counter()
        timed = [latency for _status, latency in outcomes if latency is not None]
        for latency_ms in timed:
            for bound in LATENCY_BUCKETS_SECONDS:
                if latency_ms / 1000 <= bound:
                    buckets[bound] += 1
        amounts = {f"checks:{status}": count for status, count in statuses.items()}
        amounts.update({f"latency_le:{bound}": count for bound, count in buckets.items()})
        amounts.update({"latency_count": len(timed), "latency_sum_ms": int(sum(timed))})
        _add(amounts)
    except Exception:  # metrics must never break a check batch
        logger.warning("recording check metrics failed", exc_info=True)


def record_incident_opened(*, count: int = 1) -> None:
    try:
        _add({"incidents_opened": count})
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
        from monitoring.models import Incident, MetricCounter, Node, NodeGroup

        # Tenants are labelled by id, never by slug: a scrape must not list the customers.
        nodes = GaugeMetricFamily("groundstation_nodes", "Nodes by tenant and status", labels=["tenant", "status"])
        groups = GaugeMetricFamily(
            "groundstation_node_groups", "Quorum groups by tenant and status", labels=["tenant", "status"]
        )
        incidents = GaugeMetricFamily("groundstation_incidents_open", "Open incidents by tenant", labels=["tenant"])
        try:
            for model, family in ((Node, nodes), (NodeGroup, groups)):
                rows = model.objects.values_list("tenant_id", "status").annotate(n=Count("pk")).order_by()
                for tenant_id, status, count in rows:
                    family.add_metric([str(tenant_id), status], count)
            rows = (
                Incident.objects.filter(state=Incident.State.OPEN)
                .values_list("tenant_id").annotate(n=Count("pk")).order_by()
            )
            for tenant_id, count in rows:
                incidents.add_metric([str(tenant_id)], count)
        except DatabaseError:
            logger.warning("fleet metrics unavailable: database error")
        yield nodes
        yield groups
        yield incidents

        try:
            values = dict(MetricCounter.objects.values_list("name", "value"))
        except DatabaseError:  # a database outage must not fail the whole scrape
            logger.warning("check counters unavailable: database error")
            values = {}
        checks = CounterMetricFamily("groundstation_checks", "Checks run, by result", labels=["status"])
        for status in STATUSES[:3]:
            checks.add_metric([status], values.get(f"checks:{status}", 0))
        yield checks
        count = values.get("latency_count", 0)
        cumulative = [(str(b), values.get(f"latency_le:{b}", 0)) for b in LATENCY_BUCKETS_SECONDS]
        yield HistogramMetricFamily(
            "groundstation_check_latency_seconds",
            "Check latency",
            buckets=[*cumulative, ("+Inf", count)],
            sum_value=values.get("latency_sum_ms", 0) / 1000,
        )
        opened = CounterMetricFamily("groundstation_incidents_opened", "Incidents opened")
        opened.add_metric([], values.get("incidents_opened", 0))
        yield opened


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(FleetCollector())
        _registered = True
