"""Family 6: load with accounting. The full run is `bench/load.py` (by hand, thousands of calls);
CI runs the same script small, against its own private server, Redis, worker and two beats.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from apikeys import services as apikey_services
from apikeys.gateway import metering
from apikeys.models import ApiCall
from tests.hardening import figures
from tests.hardening.world import key_client

ROOT = Path(__file__).resolve().parents[2]


def test_unknown_urls_are_limited_and_metered_for_the_calling_key(tenant, settings):
    """A key probing paths that do not exist spends its budget and shows up in its usage."""
    settings.USAGE_BUFFER_AUTOFLUSH = False
    metering.meter.clear()
    key, secret = apikey_services.api_key_create(tenant=tenant, name="prober", scopes=["read"], rate_limit="2/m")
    client = key_client(secret)
    statuses = [client.get(f"/api/v1/no-such-route-{i}").status_code for i in range(3)]
    assert statuses == [404, 404, 429]
    apikey_services.usage_flush(stale_after_seconds=0)  # through Redis when REDIS_URL is set
    rows = ApiCall.objects.filter(api_key=key)
    assert rows.count() == 3 and {row.tenant_id for row in rows} == {tenant.pk}


@pytest.mark.worker
def test_a_small_load_run_reconciles_exactly(tmp_path):
    out = subprocess.run(
        [sys.executable, "bench/load.py", "--requests", "240", "--procs", "2", "--keys", "2", "--nodes", "5",
         "--workers", "1", "--limited-rate", "50/m"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads((ROOT / "artifacts" / "load-figures.json").read_text())
    assert result["requests"] == 240 and result["usage_mismatches"] == 0 and result["server_errors"] == 0
    assert result["limited_key"]["within_limit"] and result["statuses"].get("429", 0) > 0
    assert result["duplicate_request_ids"] == 0 and result["duplicate_snapshots"] == 0
    figures.record("load.small_ci_run", **{k: result[k] for k in (
        "requests", "processes", "keys", "usage_rows", "usage_mismatches", "server_errors", "duplicate_snapshots",
        "duplicate_request_ids")})
