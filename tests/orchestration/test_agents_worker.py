"""Agents and their tasks on a real worker with both LLM providers; http.request through the
outbound guard against a real local server."""

import pytest

from orchestration import services
from orchestration.models import StepLog
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.factories import make_cluster
from tests.orchestration.helpers import wait_for_run, wait_for_task
from tests.orchestration.servers import Recorder, chat_completions_handler, json_api_handler, serve

pytestmark = pytest.mark.worker


@pytest.fixture
def client(tenant, make_member):
    return bearer_client(make_member(tenant, Role.OPERATOR), tenant)


def create_agent(client, **fields):
    body = {"name": "summariser", "prompt": "You are {{ title }}. Topic: {{ topic }}.", "model": "tiny-1", **fields}
    response = client.post("/api/v1/agents", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_a_task_moves_to_completed_with_the_local_provider(live_worker, client, settings):
    settings.LLM_BASE_URL = ""
    agent = create_agent(client)
    response = client.post(
        "/api/v1/tasks", {"title": "Reporter", "agent_id": agent["id"], "input": {"topic": "satellites"}}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    task = wait_for_task(response.json()["id"], {"completed", "failed"})
    assert task.status == "completed", task.error
    assert task.result["provider"] == "local" and task.result["model"] == "tiny-1"
    assert task.result["content"].startswith("You are Reporter. Topic: satellites.")
    assert "an object with keys topic" in task.result["content"]
    assert task.started_at and task.finished_at
    detail = client.get(f"/api/v1/tasks/{task.pk}").json()
    assert detail["status"] == "completed" and detail["result"]["content"] == task.result["content"]


def test_a_task_uses_the_openai_compatible_endpoint_when_configured(live_worker, client, settings):
    recorder = Recorder()
    server, base = serve(chat_completions_handler(recorder, reply="Three satellites are up."))
    settings.LLM_BASE_URL = f"{base}/v1"
    settings.LLM_API_KEY = "sk-test-123"
    settings.OUTBOUND_ALLOW_PRIVATE = True
    try:
        agent = create_agent(client)
        task_id = client.post(
            "/api/v1/tasks", {"title": "Ops", "agent_id": agent["id"], "input": {"topic": "fleet"}}, format="json"
        ).json()["id"]
        task = wait_for_task(task_id, {"completed", "failed"})
    finally:
        server.shutdown()
    assert task.status == "completed", task.error
    assert task.result == {
        "content": "Three satellites are up.",
        "model": "tiny-1",
        "provider": "openai-compatible",
        "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
    }
    [request] = recorder.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test-123"
    assert request["body"]["model"] == "tiny-1"
    assert request["body"]["messages"][0] == {"role": "system", "content": "You are Ops. Topic: fleet."}
    assert request["body"]["messages"][1] == {"role": "user", "content": '{"topic": "fleet"}'}


def test_a_task_fails_when_the_llm_endpoint_errors(live_worker, client, settings):
    recorder = Recorder()
    server, base = serve(chat_completions_handler(recorder, status=500))
    settings.LLM_BASE_URL = base
    settings.OUTBOUND_ALLOW_PRIVATE = True
    try:
        agent = create_agent(client)
        task_id = client.post("/api/v1/tasks", {"title": "x", "agent_id": agent["id"]}, format="json").json()["id"]
        task = wait_for_task(task_id, {"completed", "failed"})
    finally:
        server.shutdown()
    assert task.status == "failed"
    assert "HTTP 500" in task.error


def test_http_request_reaches_a_local_server_and_feeds_json_transform(live_worker, tenant, client, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    recorder = Recorder()
    server, base = serve(json_api_handler(recorder))
    engine_secret = "tok-abcdef-123456"
    from orchestration import services

    services.secret_set(tenant=tenant, name="API_TOKEN", value=engine_secret)
    cluster = make_cluster(
        tenant,
        """
        name: report
        inputs: {url: {type: string}}
        steps:
          - id: fetch
            satellite: http.request
            inputs:
              method: POST
              url: "${{ inputs.url }}"
              headers: {Authorization: "Bearer ${{ secrets.API_TOKEN }}"}
              body: {ask: items}
          - id: count
            satellite: json.transform
            depends_on: [fetch]
            inputs: {data: "${{ steps.fetch.outputs.body }}", expression: "length(items)"}
          - id: leak
            satellite: echo
            inputs: {token: "${{ secrets.API_TOKEN }}"}
        """,
    )
    try:
        run_id = client.post(
            f"/api/v1/clusters/{cluster.pk}/trigger", {"inputs": {"url": f"{base}/things"}}, format="json"
        ).json()["id"]
        run = wait_for_run(run_id)
    finally:
        server.shutdown()
    assert run.status == "succeeded", run.error
    steps = {s.step_id: s for s in run.steps.all()}
    assert steps["count"].output == {"result": 3}
    assert recorder.requests[0]["headers"]["Authorization"] == f"Bearer {engine_secret}"
    assert recorder.requests[0]["body"] == b'{"ask": "items"}'
    # A secret never comes back out: not in outputs, not in logs.
    assert steps["leak"].output == {"token": "***"}
    assert not StepLog.objects.filter(run=run, message__contains=engine_secret).exists()


def test_http_request_is_refused_for_private_addresses_by_default(live_worker, tenant, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    execution = services.execution_create(tenant=tenant, satellite="http.request", inputs={"url": "http://127.0.0.1:9/"})
    run = wait_for_run(execution.pk)
    step = run.steps.get()
    assert run.status == "failed" and step.error.startswith("blocked:")
    metadata = services.execution_create(
        tenant=tenant, satellite="http.request", inputs={"url": "http://169.254.169.254/latest/meta-data/"}
    )
    assert wait_for_run(metadata.pk).steps.get().error.startswith("blocked:")


def test_http_request_keeps_a_secret_header_from_a_cross_origin_redirect(live_worker, tenant, client, settings):
    from orchestration import services
    from tests.monitoring.servers import http_server

    settings.OUTBOUND_ALLOW_PRIVATE = True
    services.secret_set(tenant=tenant, name="API_TOKEN", value="tok-redirected-123456")
    cluster = make_cluster(
        tenant,
        """
        name: redirected
        inputs: {url: {type: string}}
        steps:
          - id: fetch
            satellite: http.request
            inputs:
              url: "${{ inputs.url }}"
              headers: {X-Api-Token: "${{ secrets.API_TOKEN }}", X-Plain: visible}
        """,
    )
    with http_server() as first, http_server() as second:
        url = first.url(f"/redirect?to={second.url('/ok')}")
        response = client.post(f"/api/v1/clusters/{cluster.pk}/trigger", {"inputs": {"url": url}}, format="json")
        run = wait_for_run(response.json()["id"])
    assert run.status == "succeeded", run.error
    assert first.hits[0][2]["X-Api-Token"] == "tok-redirected-123456"
    assert "X-Api-Token" not in second.hits[0][2]
    assert second.hits[0][2]["X-Plain"] == "visible"
