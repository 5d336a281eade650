"""Runs driven by a real Celery worker: DAGs, retries, timeouts, cancel, retry, logs, agents."""

import json

import pytest

from orchestration.models import StepLog, StepRun
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.factories import make_cluster
from tests.orchestration.helpers import wait_for, wait_for_run, wait_for_step

pytestmark = pytest.mark.worker

FAN_OUT = """
name: fan
inputs: {greeting: {type: string}}
steps:
  - id: start
    satellite: echo
    inputs: {message: "${{ inputs.greeting }}", items: [1, 2, 3]}
  - id: left
    satellite: echo
    depends_on: [start]
    inputs: {message: "left got ${{ steps.start.outputs.message }}"}
  - id: right
    satellite: json.transform
    depends_on: [start]
    inputs: {data: "${{ steps.start.outputs }}", expression: "sum(items)"}
  - id: join
    satellite: echo
    depends_on: [left, right]
    inputs:
      left: "${{ steps.left.outputs.message }}"
      total: "${{ steps.right.outputs.result }}"
"""


@pytest.fixture
def operator(tenant, make_member):
    return make_member(tenant, Role.OPERATOR)


def trigger(client, cluster, inputs=None, **extra):
    return client.post(f"/api/v1/clusters/{cluster.pk}/trigger", {"inputs": inputs or {}}, format="json", **extra)


def test_a_fan_out_join_dag_passes_outputs_downstream(live_worker, tenant, operator):
    cluster = make_cluster(tenant, FAN_OUT)
    response = trigger(bearer_client(operator, tenant), cluster, {"greeting": "hi"})
    assert response.status_code == 202, response.content
    run = wait_for_run(response.json()["id"])
    assert run.status == "succeeded", run.error
    steps = {s.step_id: s for s in run.steps.all()}
    assert steps["join"].output == {"left": "left got hi", "total": 6}
    assert all(s.attempts == 1 for s in steps.values())
    # The join started only after both branches had finished.
    assert steps["join"].started_at >= max(steps["left"].finished_at, steps["right"].finished_at)
    detail = bearer_client(operator, tenant).get(f"/api/v1/runs/{run.pk}").json()
    assert detail["version"] == 1 and detail["cluster_id"] == str(cluster.pk)
    assert [s["step_id"] for s in detail["steps"]] == ["start", "left", "right", "join"]


RETRYING = """
name: flaky
steps:
  - id: boom
    satellite: fail
    inputs: {message: "upstream is down"}
    retries: {count: 2, backoff: exponential, delay_seconds: 0.1, max_delay_seconds: 0.2, jitter: true}
  - id: after
    satellite: echo
    depends_on: [boom]
  - id: cleanup
    satellite: echo
    depends_on: [boom]
    join: all_done
    inputs: {message: cleaning}
on_failure:
  - id: notify
    satellite: echo
    inputs: {message: "run ${{ run.id }} failed"}
"""


def test_a_failing_step_is_retried_then_fails_the_run_and_skips_downstream(live_worker, tenant, operator):
    cluster = make_cluster(tenant, RETRYING)
    response = trigger(bearer_client(operator, tenant), cluster)
    run = wait_for_run(response.json()["id"])
    steps = {s.step_id: s for s in run.steps.all()}
    assert run.status == "failed"
    assert "boom" in run.error and "upstream is down" in run.error
    assert steps["boom"].status == "failed" and steps["boom"].attempts == 3
    assert steps["boom"].error == "upstream is down"
    assert steps["after"].status == "skipped" and steps["after"].attempts == 0
    assert steps["cleanup"].status == "succeeded"  # all_done runs after a failure
    assert steps["notify"].status == "succeeded"
    assert steps["notify"].output == {"message": f"run {run.pk} failed"}
    messages = list(StepLog.objects.filter(run=run, step_id="boom").values_list("message", flat=True))
    assert sum("retrying in" in m for m in messages) == 2
    assert any("attempt 3 failed" in m for m in messages)


def test_a_step_over_its_timeout_ends_timed_out_and_frees_the_worker(live_worker, tenant, operator):
    cluster = make_cluster(
        tenant,
        """
        name: slow
        steps:
          - id: nap
            satellite: sleep
            inputs: {seconds: 600}
            timeout_seconds: 1
        """,
    )
    # Ending at all within the wait (far below the 600 s sleep) shows the timeout cut it short.
    run = wait_for_run(trigger(bearer_client(operator, tenant), cluster).json()["id"], timeout=120)
    step = run.steps.get()
    assert run.status == "timed_out" and step.status == "timed_out"
    assert "timeout of 1s" in step.error
    # The worker is free again: a new execution runs to completion.
    client = bearer_client(operator, tenant)
    execution = client.post("/api/v1/satellites/echo/execute", {"inputs": {"message": "next"}}, format="json").json()
    assert wait_for_run(execution["id"]).status == "succeeded"


def test_cancel_stops_a_running_sleep_within_seconds(live_worker, tenant, operator):
    cluster = make_cluster(
        tenant,
        """
        name: long
        steps:
          - id: nap
            satellite: sleep
            inputs: {seconds: 600}
          - id: never
            satellite: echo
            depends_on: [nap]
        """,
    )
    client = bearer_client(operator, tenant)
    run_id = trigger(client, cluster).json()["id"]
    wait_for_step(run_id, "nap", "running")
    response = client.post(f"/api/v1/runs/{run_id}/cancel")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    # The worker notices at its next cooperative check and logs it; nothing else is queued.
    # (Bounded waits far below the 600 s nap: a worker that slept on would fail them.)
    wait_for(lambda: StepLog.objects.filter(run_id=run_id, message__contains="cancel").exists(), timeout=60,
             what="the worker to log the cancel")
    wait_for(lambda: not StepRun.objects.filter(run_id=run_id, status="running").exists(), timeout=60,
             what="the running step to stop")
    steps = {s.step_id: s.status for s in StepRun.objects.filter(run_id=run_id)}
    assert steps == {"nap": "cancelled", "never": "cancelled"}
    assert client.post(f"/api/v1/runs/{run_id}/cancel").status_code == 409


def test_retry_reruns_only_failed_steps_and_reuses_succeeded_outputs(live_worker, tenant, operator):
    from orchestration import services

    # The gate needs a secret: missing first, set before the retry.
    cluster = make_cluster(
        tenant,
        """
        name: recover
        steps:
          - id: first
            satellite: echo
            inputs: {message: "${{ run.id }}", n: 2}
          - id: gate
            satellite: echo
            depends_on: [first]
            inputs: {result: "${{ steps.first.outputs.n }}", key: "${{ secrets.EXPR }}"}
          - id: after
            satellite: echo
            depends_on: [gate]
            inputs: {value: "${{ steps.gate.outputs.result }}"}
          - id: last
            satellite: echo
            depends_on: [first]
        """,
    )
    client = bearer_client(operator, tenant)
    run_id = trigger(client, cluster).json()["id"]
    run = wait_for_run(run_id)
    assert run.status == "failed"
    before = {s.step_id: s for s in run.steps.all()}
    assert before["gate"].status == "failed" and "secret 'EXPR' is not set" in before["gate"].error
    assert before["after"].status == "skipped" and before["last"].status == "succeeded"

    services.secret_set(tenant=tenant, name="EXPR", value="n")
    response = client.post(f"/api/v1/runs/{run_id}/retry")
    assert response.status_code == 202, response.content
    run = wait_for_run(run_id)
    assert run.status == "succeeded", run.error
    after = {s.step_id: s for s in run.steps.all()}
    assert after["after"].output == {"value": 2}
    # Succeeded steps were reused, not run again.
    for step_id in ("first", "last"):
        assert after[step_id].finished_at == before[step_id].finished_at
        assert after[step_id].attempts == 1
    assert StepLog.objects.get(run=run, message__startswith="retry: re-running").message.endswith("2 step(s)")
    assert client.post(f"/api/v1/runs/{run_id}/retry").status_code == 409


def test_the_logs_stream_follows_a_run_live_until_it_ends(live_worker, tenant, operator):
    cluster = make_cluster(
        tenant,
        """
        name: logged
        steps:
          - id: nap
            satellite: sleep
            inputs: {seconds: 0.5}
          - id: say
            satellite: echo
            depends_on: [nap]
            inputs: {message: done}
        """,
    )
    client = bearer_client(operator, tenant)
    run_id = trigger(client, cluster).json()["id"]
    response = client.get(f"/api/v1/runs/{run_id}/logs", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = []
    for chunk in response.streaming_content:
        for block in chunk.decode().strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
            if "event" in lines:
                events.append((lines["event"], json.loads(lines["data"])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and events[-1][1]["status"] == "succeeded"
    messages = [data["message"] for kind, data in events if kind == "log"]
    assert any(m.startswith("sleeping 0.5s") for m in messages)
    assert any(m.startswith("succeeded in") and '"done"' in m for m in messages)
    assert "run succeeded" in messages
    # The same lines, paginated, without streaming.
    listed = client.get(f"/api/v1/runs/{run_id}/logs").json()
    assert [row["message"] for row in listed["results"]] == messages


@pytest.mark.parametrize("satellite, inputs", [("echo", {"message": "hi"}), ("sleep", {"seconds": 0.2})])
def test_an_execution_starts_when_its_step_starts_on_a_worker_not_when_it_is_queued(
    live_worker, tenant, operator, satellite, inputs
):
    """Both kinds of step: side-effect free (`echo`, recorded with its result) and claimed (`sleep`)."""
    from django.utils.dateparse import parse_datetime

    client = bearer_client(operator, tenant)
    response = client.post(f"/api/v1/satellites/{satellite}/execute", {"inputs": inputs}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["started_at"] is None  # queued: nothing has started yet
    run = wait_for_run(response.json()["id"])
    assert run.status == "succeeded", run.error
    step = run.steps.get()
    assert run.started_at == step.started_at
    assert step.queued_at < run.started_at <= run.finished_at
    detail = client.get(f"/api/v1/executions/{run.pk}").json()
    assert parse_datetime(detail["started_at"]) == step.started_at
