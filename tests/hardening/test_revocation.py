"""Revocation reaches every cache (family 10): a key revoked while Redis is paused stays dead.

Before the fix the revocation's cache drop failed during the pause and nothing retried it, so
the snapshot cached before the pause ("valid") came back with Redis and the key worked again
for the rest of its TTL (300 s by default; ≥ 60 s in the probe).
"""
import os

import pytest

from apikeys import services as apikey_services
from apikeys import tasks as apikey_tasks
from apikeys.gateway import invalidation
from apikeys.models import PendingInvalidation
from tests.conftest import bearer_client
from tests.hardening.test_faults import private_redis, reset_store_health  # noqa: F401 - fixture
from tests.hardening.world import key_client

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="Redis-specific (REDIS_URL unset)")


def _revoke_during_a_pause(private_redis, tenant, owner):  # noqa: F811 - the imported fixture
    key, secret = apikey_services.api_key_create(tenant=tenant, name="doomed", scopes=["read"])
    client = key_client(secret)
    assert client.get("/api/v1/nodes").status_code == 200  # its snapshot is now cached in Redis
    private_redis.pause()
    try:
        revoked = bearer_client(owner, tenant).delete(f"/api/v1/api-keys/{key.pk}")
        assert revoked.status_code == 204, revoked.content
        assert client.get("/api/v1/nodes").status_code == 401  # from the database, while Redis is away
    finally:
        private_redis.resume()
    reset_store_health()  # past the gateway's 1 s back-off: the next request uses Redis again
    return key, client


@needs_redis
def test_a_key_revoked_while_redis_was_paused_stays_revoked_when_it_returns(private_redis, tenant, owner):  # noqa: F811
    key, client = _revoke_during_a_pause(private_redis, tenant, owner)
    assert PendingInvalidation.objects.exists()  # the failed drop left a durable record
    # This process saw the outage: it drops the recorded snapshots before trusting Redis again.
    assert [client.get("/api/v1/nodes").status_code for _ in range(3)] == [401, 401, 401]
    assert not PendingInvalidation.objects.exists()


@needs_redis
def test_the_beat_retry_drops_a_stale_snapshot_for_processes_that_never_saw_the_outage(
    private_redis, tenant, owner  # noqa: F811
):
    key, client = _revoke_during_a_pause(private_redis, tenant, owner)
    invalidation._pending_here.clear()  # as in a web process that had no request during the pause
    assert apikey_tasks.invalidations_retry() >= 1
    assert client.get("/api/v1/nodes").status_code == 401
    assert not PendingInvalidation.objects.exists()
