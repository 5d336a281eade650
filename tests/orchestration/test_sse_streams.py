"""SSE log streams: concurrent streams are capped per credential and per tenant (429 in the
envelope above the cap, the slot back when a stream closes), and a stream gives its database
connection back between polls instead of holding it for its whole life."""

import threading
import time

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections, connection

from orchestration import services
from tests.orchestration.factories import key_client, make_cluster

DEFINITION = "name: streamed\nsteps:\n  - {id: a, satellite: echo}\n"


def open_stream(client, run):
    return client.get(f"/api/v1/runs/{run.pk}/logs", HTTP_ACCEPT="text/event-stream")


def close(response):
    """End a stream as the server does, without the test client's request_finished closing the
    test's own connection (it would: the test runs in a transaction)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def assert_capped(response, scope: str, cap: int):
    assert response.status_code == 429, response.content
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert error["message"] == f"At most {cap} concurrent log streams per {scope}; close one first."


def test_streams_are_capped_per_credential_and_per_tenant(db, tenant, settings):
    settings.SSE_MAX_STREAMS_PER_CREDENTIAL, settings.SSE_MAX_STREAMS_PER_TENANT = 2, 3
    run = services.run_trigger(cluster=make_cluster(tenant, DEFINITION), inputs={})  # stays queued
    first, second = key_client(tenant, ["read"]), key_client(tenant, ["read"])
    held = [open_stream(first, run), open_stream(first, run)]
    assert [r.status_code for r in held] == [200, 200]
    assert_capped(open_stream(first, run), "credential", 2)
    held.append(open_stream(second, run))  # another key: its own slots, the tenant's third
    assert held[-1].status_code == 200
    assert_capped(open_stream(second, run), "tenant", 3)
    close(held.pop(0))  # a stream that ends gives its slot back
    again = open_stream(first, run)
    assert again.status_code == 200
    for response in [*held, again]:
        close(response)


def _connections_to_this_database() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="counts connections in pg_stat_activity")
def test_ten_streams_do_not_hold_ten_database_connections(transactional_db, tenant, settings):
    settings.SSE_MAX_STREAMS_PER_CREDENTIAL = 20
    run = services.run_trigger(cluster=make_cluster(tenant, DEFINITION), inputs={})
    client = key_client(tenant, ["read"])
    baseline = _connections_to_this_database()
    stop, started = threading.Event(), threading.Barrier(11)
    errors: list = []

    def follow():
        try:
            response = open_stream(client, run)
            chunks = iter(response.streaming_content)
            next(chunks)  # the first poll ran
            started.wait(30)
            while not stop.is_set():
                next(chunks)  # a keep-alive or nothing: each call is one more poll
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            response.close()

    threads = [threading.Thread(target=follow, daemon=True) for _ in range(10)]
    for thread in threads:
        thread.start()
    started.wait(30)
    samples = []
    for _ in range(20):  # 6 s of 10 streams polling every 0.5 s
        samples.append(_connections_to_this_database() - baseline)
        time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    # Held for the streams' life, this would be 10 at every sample; released, only polls in
    # flight at the instant of a sample count (how many depends on the machine's load).
    print("connections held by 10 streams, sampled:", samples)
    assert min(samples) <= 1 and sorted(samples)[len(samples) // 2] <= 3, samples
