"""Metering exactness, rollups behind /usage, the call log, retention, and the real worker."""
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from apikeys import services
from apikeys.gateway import metering
from apikeys.models import ApiCall, ApiKey, UsageRollup
from tests.apikeys.conftest import key_client
from tests.apikeys.factories import make_key
from tests.conftest import bearer_client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.apikeys.urls")]


def _flush() -> None:
    services.usage_flush()


def test_usage_counts_every_request_exactly_once_including_errors(tenant, owner):
    key, secret = make_key(tenant, rate_limit="6/m")
    client = key_client(secret)
    statuses = [client.get("/api/v1/api-keys").status_code for _ in range(3)]
    statuses.append(client.get("/api/v1/api-keys/00000000-0000-0000-0000-000000000000").status_code)  # 404
    statuses.append(client.post("/api/v1/api-keys", {"scopes": ["nope"]}, format="json").status_code)  # 400
    wrong = secret.split("_")
    forged_body = f"{wrong[0]}_{wrong[1]}_{'C' * 32}"
    from core import credentials

    statuses.append(key_client(forged_body + credentials._checksum(forged_body)).get("/api/v1/api-keys").status_code)
    statuses += [client.get("/api/v1/api-keys").status_code for _ in range(3)]  # 6/m: 1 ok, 2 × 429
    assert statuses == [200, 200, 200, 404, 400, 401, 200, 429, 429]
    _flush()

    usage = bearer_client(owner, tenant).get("/api/v1/usage?group_by=api_key").json()
    by_key = {group["key"]: group for group in usage["groups"]}
    assert by_key[str(key.pk)]["requests"] == len(statuses)
    assert by_key[str(key.pk)]["errors"] == 5
    # the owner's own /usage call is metered too, but only after this response was built
    assert usage["total"]["requests"] == len(statuses)
    assert by_key[str(key.pk)]["p50_ms"] > 0 and by_key[str(key.pk)]["p95_ms"] >= by_key[str(key.pk)]["p50_ms"]


def test_usage_groups_by_day_and_endpoint_in_the_spec_shape(tenant, owner):
    _, secret = make_key(tenant)
    client = key_client(secret)
    for _ in range(2):
        client.get("/api/v1/api-keys")
    key_id = ApiKey.objects.filter(tenant=tenant).first().pk
    client.get(f"/api/v1/api-keys/{key_id}")
    _flush()
    owner_client = bearer_client(owner, tenant)
    by_endpoint = owner_client.get("/api/v1/usage", {"group_by": "endpoint"}).json()
    assert set(by_endpoint) == {"from", "to", "total", "groups"}
    assert {g["key"]: g["requests"] for g in by_endpoint["groups"]} == {
        "/api/v1/api-keys": 2, "/api/v1/api-keys/{id}": 1,
    }
    today = timezone.now().date().isoformat()
    by_day = owner_client.get("/api/v1/usage").json()
    assert by_day["to"] == today
    assert by_day["from"] == (timezone.now().date() - timedelta(days=29)).isoformat()
    assert by_day["groups"] == [
        {"key": today, "requests": 3, "errors": 0, "p50_ms": by_day["groups"][0]["p50_ms"],
         "p95_ms": by_day["groups"][0]["p95_ms"]}
    ]  # the owner's own /usage calls are still in the buffer
    assert by_day["total"] == {"requests": 3, "errors": 0}
    empty = owner_client.get("/api/v1/usage", {"from": "2020-01-01", "to": "2020-01-31"}).json()
    assert empty["total"] == {"requests": 0, "errors": 0} and empty["groups"] == []
    bad = owner_client.get("/api/v1/usage", {"group_by": "colour"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    assert owner_client.get("/api/v1/usage", {"from": "2026-02-01", "to": "2026-01-01"}).status_code == 400


def test_replayed_batches_never_double_count(tenant, owner):
    _, secret = make_key(tenant)
    client = key_client(secret)
    for _ in range(3):
        client.get("/api/v1/api-keys")
    calls = metering.meter.buffered()
    assert len(calls) == 3
    services.usage_calls_store(rows=calls)
    services.usage_calls_store(rows=calls)  # at-least-once delivery: a replay
    _flush()  # ships the same three a third time
    services.usage_calls_store(rows=calls)
    _flush()
    assert ApiCall.objects.filter(tenant=tenant).count() == 3
    assert sum(UsageRollup.objects.filter(tenant=tenant).values_list("requests", flat=True)) == 3


def test_usage_is_tenant_scoped(tenant, other_tenant, owner, outsider):
    _, secret = make_key(tenant)
    key_client(secret).get("/api/v1/api-keys")
    _flush()
    assert bearer_client(outsider, other_tenant).get("/api/v1/usage").json()["total"]["requests"] == 0
    assert bearer_client(outsider, other_tenant).get("/api/v1/analytics/api-calls").json()["results"] == []
    assert bearer_client(outsider, tenant).get("/api/v1/usage").status_code == 404


def test_api_calls_lists_recent_calls_with_filters(tenant, owner):
    key, secret = make_key(tenant)
    client = key_client(secret)
    client.get("/api/v1/api-keys")
    client.get("/api/v1/api-keys/00000000-0000-0000-0000-000000000000")
    _flush()
    owner_client = bearer_client(owner, tenant)
    rows = owner_client.get("/api/v1/analytics/api-calls").json()["results"]
    assert [r["status"] for r in rows] == [404, 200]  # newest first
    assert rows[0]["endpoint"] == "/api/v1/api-keys/{id}" and rows[0]["api_key_id"] == str(key.pk)
    assert set(rows[0]) >= {"endpoint", "method", "status", "duration_ms", "api_key_id", "user_id", "time"}
    errors = owner_client.get("/api/v1/analytics/api-calls", {"status_min": 400}).json()["results"]
    assert [r["status"] for r in errors] == [404]
    by_key = owner_client.get("/api/v1/analytics/api-calls", {"api_key": str(key.pk)}).json()["results"]
    assert len(by_key) == 2
    assert owner_client.get("/api/v1/analytics/api-calls", {"endpoint": "/api/v1/api-keys"}).json()["results"][0][
        "status"] == 200


def test_people_calls_are_metered_with_their_user(tenant, owner):
    bearer_client(owner, tenant).get("/api/v1/analytics/api-calls")
    _flush()
    call = ApiCall.objects.get(tenant=tenant)
    assert call.user_id == owner.pk and call.api_key_id is None


def test_last_used_at_is_kept_without_a_write_per_request(tenant, django_assert_max_num_queries):
    key, secret = make_key(tenant)
    for _ in range(3):
        key_client(secret).get("/api/v1/probe")
    key.refresh_from_db()
    assert key.last_used_at is None  # nothing written in the request path
    _flush()
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    key_client(secret).get("/api/v1/probe")
    _flush()
    key.refresh_from_db()
    assert key.last_used_at == first  # within a minute: not rewritten


def test_raw_calls_are_pruned_after_retention_but_rollups_stay(tenant, settings):
    settings.USAGE_RAW_RETENTION_DAYS = 7
    _, secret = make_key(tenant)
    key_client(secret).get("/api/v1/api-keys")
    _flush()
    ApiCall.objects.update(created_at=timezone.now() - timedelta(days=8))
    assert services.usage_prune() == 1
    assert not ApiCall.objects.exists()
    assert UsageRollup.objects.get(tenant=tenant).requests == 1


@pytest.mark.worker
def test_the_celery_worker_flushes_buffered_calls(tenant, live_worker):
    from apikeys.tasks import usage_flush

    _, secret = make_key(tenant)
    client = key_client(secret)
    for _ in range(5):
        assert client.get("/api/v1/api-keys").status_code == 200
    metering.meter.ship()  # what the web process's shipper thread does every half second
    usage_flush.delay()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            rollup = UsageRollup.objects.filter(tenant=tenant).first()
        except OperationalError:  # SQLite's shared-cache test database: the worker is writing
            rollup = None
        if rollup and rollup.requests == 5:
            break
        time.sleep(0.1)
    assert UsageRollup.objects.get(tenant=tenant).requests == 5
    assert ApiCall.objects.filter(tenant=tenant, rolled_up=True).count() == 5


def test_a_record_is_json_serialisable_and_carries_no_secret(tenant):
    _, secret = make_key(tenant)
    key_client(secret).get("/api/v1/api-keys")
    (call,) = metering.meter.buffered()
    assert secret not in json.dumps(call)
    assert call["route"] == "/api/v1/api-keys" and call["status"] == 200


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs real Redis (CI sets REDIS_URL)")
def test_a_process_drains_its_buffer_when_it_exits():
    from apikeys.gateway.store import redis_client

    client = redis_client()
    before = client.llen(metering.meter.buffer_key)
    call_id = str(uuid.uuid4())
    script = (
        "import django; django.setup()\n"
        "from apikeys.gateway import metering\n"
        f"metering.record({{'id': '{call_id}', 'route': '/x', 'method': 'GET', 'status': 200,"
        " 'duration_ms': 1.0, 'at': '2026-01-01T00:00:00+00:00'})\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "USAGE_BUFFER_AUTOFLUSH": "false"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    shipped = [json.loads(item) for item in client.lrange(metering.meter.buffer_key, before, -1)]
    assert call_id in {call["id"] for call in shipped}
    client.lrem(metering.meter.buffer_key, 0, next(i for i in client.lrange(metering.meter.buffer_key, 0, -1)
                                             if call_id in i.decode()))


def test_the_flush_command_rolls_up_and_prunes(tenant, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.USAGE_RAW_RETENTION_DAYS = 0
    _, secret = make_key(tenant)
    key_client(secret).get("/api/v1/api-keys")
    out = StringIO()
    call_command("usage_flush", "--prune", stdout=out)
    assert "pruned 1 raw call(s)" in out.getvalue()
    assert UsageRollup.objects.get(tenant=tenant).requests == 1
