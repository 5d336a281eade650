"""The gateway: rate-limit headers, the exact 429 boundary, concurrency, classes, outages."""
import logging
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches
from rest_framework.test import APIClient

from apikeys.gateway import middleware as gateway
from apikeys.gateway.store import COUNTER_PREFIX
from tenants.policy import Role
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.conftest import bearer_client
from tests.factories import PlanFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.apikeys.urls")]
WINDOW_START = 1_800_000_000  # a multiple of 60, 3600 and 86400: all windows begin here


@pytest.fixture
def pinned_clock(monkeypatch):
    """Pin the limiter's clock to the start of a window so no window rolls over mid-test."""
    now = {"t": float(WINDOW_START + 1)}
    monkeypatch.setattr(gateway, "clock", lambda: now["t"])
    return now


def test_every_authenticated_response_carries_the_tightest_window(tenant, pinned_clock):
    _, secret = make_key(tenant, rate_limit="100/h")
    response = key_client(secret).get("/api/v1/probe")
    assert response.status_code == 200
    # plan: 1000/m, 50000/h, 1000000/d; key: 100/h → the key's hour window is tightest
    assert response["X-RateLimit-Limit"] == "100"
    assert response["X-RateLimit-Remaining"] == "99"
    assert response["X-RateLimit-Reset"] == str(WINDOW_START + 3600)
    # errors of authenticated callers carry them too
    response = key_client(secret).get("/api/v1/api-keys/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response["X-RateLimit-Remaining"] == "98"


def test_it_allows_exactly_the_rate_then_429s_with_retry_after(tenant, pinned_clock):
    _, secret = make_key(tenant, rate_limit="5/m")
    client = key_client(secret)
    remaining = [client.get("/api/v1/probe") for _ in range(5)]
    assert [r.status_code for r in remaining] == [200] * 5
    assert [r["X-RateLimit-Remaining"] for r in remaining] == ["4", "3", "2", "1", "0"]
    pinned_clock["t"] += 20
    sixth = client.get("/api/v1/probe")
    assert sixth.status_code == 429
    error = sixth.json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED" and error["request_id"] == sixth["X-Request-ID"]
    assert sixth["Retry-After"] == "39"
    assert sixth["X-RateLimit-Remaining"] == "0" and sixth["X-RateLimit-Limit"] == "5"
    pinned_clock["t"] = WINDOW_START + 60  # the next window
    assert client.get("/api/v1/probe").status_code == 200


def test_limits_are_exact_under_concurrency(tenant):
    limit, clients = 10, 40
    _, secret = make_key(tenant, rate_limit=f"{limit}/d")
    client = key_client(secret)
    first = client.get("/api/v1/probe")  # warm the snapshot; counts as one
    assert first.status_code == 200

    def call(_):
        return key_client(secret).get("/api/v1/probe").status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(call, range(clients)))
    assert statuses.count(200) == limit - 1
    assert statuses.count(429) == clients - (limit - 1)


def test_the_gateway_adds_no_sql_for_a_warm_key(tenant, django_assert_num_queries):
    _, secret = make_key(tenant, rate_limit="100/m")
    client = key_client(secret)
    assert client.get("/api/v1/probe").status_code == 200  # cold: loads the snapshot once
    with django_assert_num_queries(0):
        response = client.get("/api/v1/probe")
    assert response.status_code == 200 and response["X-RateLimit-Remaining"] == "98"


def test_a_revoked_key_spends_no_budget_and_forged_secrets_spend_none(tenant, pinned_clock):
    _, secret = make_key(tenant, rate_limit="3/m")
    prefix, public_id, tail = secret.split("_")
    forged = f"{prefix}_{public_id}_{'B' * 32}"
    from core import credentials

    forged += credentials._checksum(forged)
    for _ in range(5):
        assert key_client(forged).get("/api/v1/probe").status_code == 401
    assert key_client(secret).get("/api/v1/probe")["X-RateLimit-Remaining"] == "2"


def test_execution_routes_are_limited_per_tenant(tenant, settings, pinned_clock):
    settings.RATE_LIMIT_CLASSES = {"execution": ["2/m"]}
    _, first = make_key(tenant)
    _, second = make_key(tenant)
    assert key_client(first).post("/api/v1/probe/execute").status_code == 202
    assert key_client(second).post("/api/v1/probe/execute").status_code == 202
    blocked = key_client(first).post("/api/v1/probe/execute")
    assert blocked.status_code == 429 and blocked["X-RateLimit-Limit"] == "2"
    assert key_client(first).get("/api/v1/probe").status_code == 200  # other routes unaffected


def test_a_plan_change_applies_at_once(tenant, pinned_clock):
    plan = PlanFactory(rates=["1000/m"])
    tenant.plan = plan
    tenant.save()
    _, secret = make_key(tenant)
    assert key_client(secret).get("/api/v1/probe")["X-RateLimit-Limit"] == "1000"
    plan.rates = ["2/m"]
    plan.save()
    client = key_client(secret)
    # the call before the change already spent one of this minute's two
    assert [client.get("/api/v1/probe").status_code for _ in range(3)] == [200, 429, 429]


def test_people_are_limited_per_user_by_role(tenant, make_member, settings, pinned_clock):
    settings.API_USER_RATE_LIMITS = {**settings.API_USER_RATE_LIMITS, "viewer": ["2/m"]}
    viewer = make_member(tenant, Role.VIEWER)
    owner = make_member(tenant, Role.OWNER)
    client = bearer_client(viewer, tenant)
    assert [client.get("/api/v1/analytics/api-calls").status_code for _ in range(3)] == [200, 200, 429]
    # the owner's default is the seed's admin bucket, 100/s burst 200: tighter than the plan's 1000/m
    assert bearer_client(owner, tenant).get("/api/v1/analytics/api-calls")["X-RateLimit-Limit"] == "200"


def test_a_keys_bucket_allows_its_burst_then_says_when_the_next_token_comes(tenant, pinned_clock):
    _, secret = make_key(tenant, rate_limit="2/s burst 3")
    client = key_client(secret)
    burst = [client.get("/api/v1/probe") for _ in range(3)]
    assert [r.status_code for r in burst] == [200] * 3
    assert [(r["X-RateLimit-Limit"], r["X-RateLimit-Remaining"]) for r in burst] == [("3", "2"), ("3", "1"), ("3", "0")]
    assert burst[-1]["X-RateLimit-Reset"] == str(WINDOW_START + 2)  # the next token in 0.5 s, rounded up
    refused = client.get("/api/v1/probe")
    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    assert "2 requests per 1 s (burst 3)" in refused.json()["error"]["message"]
    pinned_clock["t"] += 0.5  # one token back at 2/s
    assert [client.get("/api/v1/probe").status_code for _ in range(2)] == [200, 429]


def test_a_bucket_and_the_plans_windows_apply_together(tenant, pinned_clock):
    plan = PlanFactory(rates=["4/m"])
    tenant.plan = plan
    tenant.save()
    _, secret = make_key(tenant, rate_limit="10/s burst 20")
    client = key_client(secret)
    statuses = [client.get("/api/v1/probe").status_code for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2  # the plan's window is tighter than the key's bucket
    pinned_clock["t"] = WINDOW_START + 60
    response = client.get("/api/v1/probe")
    assert response.status_code == 200 and response["X-RateLimit-Limit"] == "4"


def test_people_get_the_seeds_role_buckets_by_default(tenant, make_member, pinned_clock):
    viewer = make_member(tenant, Role.VIEWER)
    client = bearer_client(viewer, tenant)
    statuses = [client.get("/api/v1/analytics/api-calls").status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]  # 10/s burst 20
    pinned_clock["t"] += 0.1
    assert client.get("/api/v1/analytics/api-calls").status_code == 200


def test_turning_limits_off_serves_without_headers(tenant, settings):
    settings.RATELIMIT_ENABLE = False
    _, secret = make_key(tenant, rate_limit="1/m")
    responses = [key_client(secret).get("/api/v1/probe") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in responses[0]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }


def test_redis_down_fails_open_without_500s_and_logs_once(tenant, redis_down, caplog):
    _, secret = make_key(tenant, rate_limit="1/m")
    client = key_client(secret)
    with caplog.at_level(logging.WARNING, logger="groundstation.gateway"):
        responses = [client.get("/api/v1/probe") for _ in range(4)]
        responses.append(client.get("/api/v1/api-keys"))
        gateway.health.retry_at = 0  # let the next request try the store again: still down
        responses.append(client.get("/api/v1/probe"))
    assert [r.status_code for r in responses] == [200] * 6
    assert "X-RateLimit-Limit" not in responses[0]
    assert key_client("gsk_" + "x" * 12 + "_" + "y" * 38).get("/api/v1/probe").status_code == 401
    degraded = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(degraded) == 1


def test_redis_down_fails_closed_where_a_route_says_so(tenant, redis_down, settings):
    _, secret = make_key(tenant)
    response = key_client(secret).get("/api/v1/probe/closed")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    settings.RATELIMIT_FAIL_OPEN = False
    assert key_client(secret).get("/api/v1/probe").status_code == 503


def test_anonymous_calls_get_no_limit_headers(db):
    response = APIClient(raise_request_exception=False).get("/api/v1/probe")
    assert response.status_code == 401
    assert "X-RateLimit-Limit" not in response


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs real Redis (CI sets REDIS_URL)")
def test_no_counter_is_left_in_redis_without_a_ttl(tenant):
    _, secret = make_key(tenant, rate_limit="50/m")
    for _ in range(3):
        assert key_client(secret).get("/api/v1/probe").status_code == 200
    client = caches["default"]._cache.get_client(write=True)
    counters = list(client.scan_iter(match=f"{COUNTER_PREFIX}*"))
    assert counters
    assert all(client.ttl(name) > 0 for name in counters)
    snapshots_ = list(client.scan_iter(match="gs:gw:*"))
    assert snapshots_ and all(client.ttl(name) > 0 for name in snapshots_)


def test_exempt_views_are_neither_limited_nor_metered(tenant):
    from apikeys.gateway import metering

    _, secret = make_key(tenant, rate_limit="1/m")
    responses = [key_client(secret).get("/api/v1/probe/exempt") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in responses[0]
    assert metering.meter.pending() == 0


def _unknown_key() -> str:
    import secrets as random_source

    from core import credentials

    body = f"gsk_{random_source.token_hex(6)}_{'A' * credentials.SECRET_LENGTH}"
    return body + credentials._checksum(body)


def test_failed_key_authentications_are_limited_per_client_ip_without_database_lookups(
    tenant, settings, pinned_clock
):
    """Before the fix every unknown `gsk_` public id cost a lookup and nothing limited them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.CREDENTIAL_FAILURE_RATE_LIMIT = "5/m"
    _key, good_secret = make_key(tenant, scopes=["read"])
    good = key_client(good_secret)
    assert good.get("/api/v1/nodes").status_code == 200  # warm before the guessing starts
    guesses = [key_client(_unknown_key()).get("/api/v1/nodes") for _ in range(5)]
    assert [r.status_code for r in guesses] == [401] * 5
    with CaptureQueriesContext(connection) as queries:
        refused = key_client(_unknown_key()).get("/api/v1/nodes")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert not [q for q in queries.captured_queries if "apikeys_apikey" in q["sql"]]
    assert good.get("/api/v1/nodes").status_code == 200  # a warm, valid key is no guess
    # Another client address has its own budget.
    other = key_client(_unknown_key())
    assert other.get("/api/v1/nodes", REMOTE_ADDR="192.0.2.7").status_code == 401


def test_a_wrong_secret_for_a_known_id_counts_as_a_failure_too(tenant, settings, pinned_clock):
    from tests.apikeys.test_keys_api import _tamper_secret

    settings.CREDENTIAL_FAILURE_RATE_LIMIT = "3/m"
    _key, secret = make_key(tenant, scopes=["read"])
    forged = key_client(_tamper_secret(secret))
    assert [forged.get("/api/v1/nodes").status_code for _ in range(4)] == [401, 401, 401, 429]
