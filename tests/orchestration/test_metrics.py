"""Orchestration's own collector puts runs by tenant, kind and status on /metrics."""
import pytest

from orchestration.models import Run

pytestmark = pytest.mark.django_db


def test_metrics_export_runs_per_tenant_kind_and_status(api_client, tenant, settings):
    settings.METRICS_TOKEN = "scrape-me"
    Run.objects.create(tenant=tenant, kind=Run.Kind.EXECUTION, satellite="json.transform", status="succeeded")
    text = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").content.decode()
    assert f'groundstation_runs{{kind="execution",status="succeeded",tenant="{tenant.pk}"}} 1.0' in text
