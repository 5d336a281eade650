"""The broker is down when work is started: `execute`, `trigger` and `retry` answer 503 in the
envelope with Retry-After and save nothing, so a retry (with or without an Idempotency-Key)
creates exactly one run; a run saved just before the broker went away goes out when it returns."""

import contextlib
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from orchestration import services
from orchestration.engine import reaper
from orchestration.models import IdempotencyRecord, Run
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.monitoring.servers import closed_port
from tests.orchestration.factories import make_cluster
from tests.orchestration.helpers import wait_for_run


@contextlib.contextmanager
def broker_unreachable():
    """Point publishing at a closed port (a real connection refused), then back."""
    saved = app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options
    # The embedded default names its own transport class, which would override the URL's.
    app.conf.broker_url, app.conf.broker_transport = f"redis://127.0.0.1:{closed_port()}/0", None
    app.conf.broker_transport_options = {}
    app._after_fork()  # drop pooled connections to the real broker, as Celery does after a fork
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport, app.conf.broker_transport_options = saved
        app._after_fork()


@pytest.fixture
def client(tenant, make_member):
    return bearer_client(make_member(tenant, Role.OPERATOR), tenant)


def assert_refused(response):
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "10"
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["message"] == "The task queue is unavailable; nothing was started. Retry later."


def test_execute_is_503_while_the_broker_is_down_and_a_retry_with_the_same_key_makes_one_run(db, client):
    body = {"inputs": {"message": "hi"}}
    with broker_unreachable():
        assert_refused(
            client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
        )
        assert_refused(client.post("/api/v1/satellites/echo/execute", body, format="json"))
    assert Run.objects.count() == 0 and IdempotencyRecord.objects.count() == 0
    first = client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202, first.content
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Run.objects.count() == 1


def test_trigger_and_retry_are_503_while_the_broker_is_down(db, client, tenant):
    cluster = make_cluster(tenant, "name: c\nsteps:\n  - {id: a, satellite: fail}\n")
    failed = services.run_trigger(cluster=cluster, inputs={})
    Run.objects.filter(pk=failed.pk).update(status="failed")
    with broker_unreachable():
        assert_refused(client.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json"))
        assert_refused(client.post(f"/api/v1/runs/{failed.pk}/retry"))
    assert Run.objects.filter(cluster=cluster).count() == 1
    assert Run.objects.get(pk=failed.pk).status == "failed"


def test_a_run_saved_as_the_broker_went_away_goes_out_when_it_returns(live_worker, tenant):
    with broker_unreachable():  # lost between the API's check and the publish after commit
        run = services.execution_create(tenant=tenant, satellite="echo", inputs={"message": "later"})
    step = run.steps.get()
    assert step.status == "queued"
    assert reaper.steps_resend(at=timezone.now() + timedelta(hours=1)) == 1  # the reaper, broker back
    run = wait_for_run(run.pk)
    assert run.status == "succeeded"
    assert run.steps.get().output == {"message": "later"}
