"""Runs driven by a real Celery worker: DAGs, retries, timeouts, cancel, retry, logs, agents."""

import pytest

from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.factories import make_cluster
from tests.orchestration.helpers import wait_for_run

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
