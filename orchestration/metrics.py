"""Orchestration's figures on `/metrics`: runs and executions by tenant, kind and status.

Read from the database at scrape time (one GROUP BY), so every web process reports the whole
platform. Registered from OrchestrationConfig.ready() into prometheus_client's registry, the
one `/metrics` exports, so monitoring (which serves the fleet's figures) never imports
orchestration.
"""
import logging

from django.db import DatabaseError
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

logger = logging.getLogger("groundstation.orchestration.metrics")


class RunsCollector:
    def describe(self):
        # Lets the registry learn the name without querying the database at start-up.
        yield GaugeMetricFamily("groundstation_runs", "", labels=["tenant", "kind", "status"])

    def collect(self):
        from orchestration.models import Run

        # Tenants are labelled by id, never by slug: a scrape must not list the customers.
        runs = GaugeMetricFamily(
            "groundstation_runs", "Runs and executions by tenant, kind and status", labels=["tenant", "kind", "status"]
        )
        try:
            rows = Run.objects.values_list("tenant_id", "kind", "status").annotate(n=Count("pk")).order_by()
            for tenant_id, kind, status, count in rows:
                runs.add_metric([str(tenant_id), kind, status], count)
        except DatabaseError:
            logger.warning("run metrics unavailable: database error")
        yield runs


_registered = False


def register() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(RunsCollector())
        _registered = True
