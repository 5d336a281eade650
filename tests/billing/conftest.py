"""Billing fixtures: a priced plan, known traffic in the usage meter, a tenant on the plan."""
import uuid
from datetime import datetime, timedelta

import pytest

from apikeys import services as apikey_services
from tenants.models import Plan
from tests.accounts.conftest import outbox  # noqa: F401  (sent mail, tasks eager after a real commit)
from tests.console.conftest import admin_site_client, superuser  # noqa: F401  (the admin, signed in)
from tests.factories import PlanFactory


def priced_plan(**fields) -> Plan:
    defaults = {"price_cents": 2900, "currency": "eur", "interval": "month", "included_requests": 1000,
                "overage_cents_per_1000": 50}
    return PlanFactory(**{**defaults, **fields})


def meter_calls(tenant, at: datetime, count: int, *, status: int = 200) -> None:
    """Known traffic in the meter: `count` calls at `at`, stored and rolled up as the gateway's are."""
    apikey_services.usage_calls_store(rows=[
        {"id": str(uuid.uuid4()), "tenant_id": str(tenant.pk), "route": "/api/v1/nodes", "method": "GET",
         "status": status, "duration_ms": 3.0, "at": (at + timedelta(microseconds=i)).isoformat()}
        for i in range(count)
    ])
    apikey_services.usage_rollup()


@pytest.fixture
def plan(db):
    return priced_plan(slug="pro", name="Pro")


@pytest.fixture
def billed_tenant(tenant, plan):
    tenant.plan = plan
    tenant.save(update_fields=["plan"])
    return tenant
