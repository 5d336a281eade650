"""Family 5: faults. A private Redis stopped mid-traffic, an unreachable database.

(A worker SIGKILLed mid-step is proven by tests/orchestration/test_worker_kill.py; two beat
processes at once by tests/hardening/test_two_beats.py.)
"""
import pytest

from apikeys import services as apikey_services
from apikeys.gateway import metering
from apikeys.gateway import middleware as gateway
from apikeys.gateway import store as gateway_store
from apikeys.models import ApiCall
from tests.hardening import figures
from tests.hardening.servers import PrivateRedis
from tests.hardening.world import key_client

TRACE_WORDS = ("Traceback", "OperationalError", "psycopg", "sqlite", "SELECT ", "File \"", "redis.exceptions")


def reset_store_health() -> None:
    """Forget the gateway's back-off after a store failure (it skips the store for 1 s)."""
    gateway.health.down_since = None
    gateway.health.retry_at = 0.0


@pytest.fixture
def private_redis(tmp_path, settings):
    server = PrivateRedis(tmp_path)
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "KEY_PREFIX": "gs",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    metering.meter.clear()
    reset_store_health()
    yield server
    server.stop()
    metering.meter.clear()
    reset_store_health()
    gateway_store._redis_stores.clear()


def _traffic(clients, rounds: int) -> list:
    return [client.get("/api/v1/nodes") for _ in range(rounds) for client in clients]


def _assert_clean(responses, allowed: set[int]) -> None:
    for response in responses:
        assert response.status_code in allowed, response.content[:300]
        text = response.content.decode(errors="replace")
        assert not any(word in text for word in TRACE_WORDS), text[:300]


@pytest.mark.parametrize("fail_open", [True, False])
def test_redis_stopped_mid_traffic_loses_no_usage_record(private_redis, tenant, settings, client, fail_open):
    settings.RATELIMIT_FAIL_OPEN = fail_open
    keys = [apikey_services.api_key_create(tenant=tenant, name=f"k{i}", scopes=["read"]) for i in range(3)]
    clients = [key_client(secret) for _key, secret in keys]

    before = _traffic(clients, 10)
    _assert_clean(before, {200})
    assert all("X-RateLimit-Remaining" in r for r in before)
    assert apikey_services.usage_flush(stale_after_seconds=0) == len(before)  # through Redis into the database
    assert client.get("/health/ready").status_code == 200

    private_redis.stop()
    during = _traffic(clients, 10)
    # Fail-open serves without limits; fail-closed answers the 503 envelope. Never a 500.
    _assert_clean(during, {200} if fail_open else {503})
    if not fail_open:
        assert all(r.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and r["Retry-After"] for r in during)
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["cache"] == "unavailable"
    assert metering.meter.ship() == 0 and metering.meter.pending() == len(during)  # kept in the process, not dropped

    private_redis.start()  # an empty Redis, as after a restart without persistence
    reset_store_health()  # skip the 1 s back-off the gateway keeps after a failure
    after = _traffic(clients, 10)
    _assert_clean(after, {200})
    apikey_services.usage_flush(stale_after_seconds=0)
    assert client.get("/health/ready").status_code == 200

    sent = len(before) + len(during) + len(after)
    stored = ApiCall.objects.filter(tenant=tenant).count()
    per_key = {str(k.pk): ApiCall.objects.filter(api_key=k).count() for k, _ in keys}
    assert stored == sent and set(per_key.values()) == {sent // len(keys)}
    figures.record(
        f"faults.redis_stopped.fail_open_{str(fail_open).lower()}",
        requests=sent, requests_during_outage=len(during), server_errors=0,
        status_during_outage=200 if fail_open else 503, usage_records_lost=sent - stored,
    )


def test_auth_endpoints_follow_fail_open_while_redis_is_down(private_redis, settings, api_client, db):
    private_redis.stop()
    for fail_open, expected in ((True, 401), (False, 503)):
        settings.RATELIMIT_FAIL_OPEN = fail_open
        response = api_client.post("/api/v1/auth/login", {"email": "x@example.com", "password": "nope"},
                                   format="json")
        _assert_clean([response], {expected})


ROUTES_WHILE_DB_IS_DOWN = ["/api/v1/nodes", "/api/v1/runs", "/api/v1/api-keys", "/api/v1/tenants", "/api/v1/auth/me",
                           "/api/v1/usage", "/api/v1/clusters"]


def test_an_unreachable_database_answers_503_envelopes_without_traces(tenant, owner, unreachable_database,
                                                                      client):
    from tests.conftest import bearer_client

    people = bearer_client(owner, tenant)
    responses = [people.get(path) for path in ROUTES_WHILE_DB_IS_DOWN]
    responses.append(people.post("/api/v1/nodes", {"name": "n", "address": "192.0.2.1"}, format="json"))
    anonymous_login = client.post("/api/v1/auth/login", {"email": "a@example.com", "password": "x"},
                                  content_type="application/json")
    responses.append(anonymous_login)
    for response in responses:
        assert response.status_code == 503, response.content[:300]
        assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    _assert_clean(responses, {503})
    assert client.get("/health/ready").status_code == 503
    figures.record("faults.database_unreachable", requests=len(responses) + 1, server_errors=0,
                   status=503, traces_in_bodies=0)
