"""Out-of-process helper for tests/monitoring/test_live_processes.py: runs against the database
and broker named by the environment (the test's private ones), prints one JSON line.

    python -m tests.monitoring.live_driver setup <node port>   # tenant, credentials, cluster, node
    python -m tests.monitoring.live_driver poll                # what beat does: queue the due checks
    python -m tests.monitoring.live_driver publish <tenant> N  # N events, 50 ms apart (bench/live_bench.py)
"""
import json
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from rest_framework_simplejwt.tokens import AccessToken  # noqa: E402

from accounts import services as account_services  # noqa: E402
from accounts.models import User  # noqa: E402
from apikeys import services as apikey_services  # noqa: E402
from monitoring import live  # noqa: E402
from monitoring import services as monitoring_services  # noqa: E402
from monitoring.tasks import dispatch_due_checks  # noqa: E402
from orchestration import services as orchestration_services  # noqa: E402
from tenants import services as tenant_services  # noqa: E402

DEFINITION = """
name: hello
steps:
  - id: greet
    satellite: echo
    inputs: {message: hi}
"""


def main(command: str, *args: str) -> dict:
    if command == "setup":
        user = account_services.user_create(
            email="live@example.com", name="Live", password="a long enough passphrase 42",
            verification_status=User.Verification.VERIFIED,
        )
        tenant = tenant_services.tenant_create(name="Live", slug="live", creator=user)
        _key, api_key = apikey_services.api_key_create(tenant=tenant, name="live", scopes=["read", "execute"])
        _token, personal = account_services.personal_token_create(user=user, name="live")
        cluster = orchestration_services.cluster_create(tenant=tenant, definition=DEFINITION)
        node = monitoring_services.node_create(
            tenant=tenant, name="failing", address="127.0.0.1", port=int(args[0]), check_type="http",
            path="/status/503", interval_seconds=10, timeout_seconds=5,
        )
        return {"tenant": tenant.slug, "tenant_id": str(tenant.pk), "cluster_id": str(cluster.pk),
                "node_id": str(node.pk),
                "api_key": api_key, "personal_token": personal, "jwt": str(AccessToken.for_user(user))}
    if command == "poll":
        dispatch_due_checks.delay()
        return {"queued": True}
    if command == "publish":
        from tenants.models import Tenant

        tenant = Tenant.objects.get(slug=args[0])
        for n in range(int(args[1])):
            live.publish(tenant_id=tenant.pk, event="bench", data={"n": n, "sent": time.time()})
            time.sleep(0.05)
        return {"published": int(args[1])}
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
