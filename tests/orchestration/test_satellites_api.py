"""The satellite catalogue, executions, idempotency keys and secrets over HTTP."""

import pytest

from orchestration.models import Execution, IdempotencyRecord, Run, Secret
from tenants.policy import Role
from tests.conftest import bearer_client

BUILT_INS = {"echo", "sleep", "fail", "http.request", "json.transform", "agent.run"}


@pytest.fixture
def operator_client(tenant, make_member):
    return bearer_client(make_member(tenant, Role.OPERATOR), tenant)


def test_the_catalogue_lists_every_built_in_with_its_schemas(operator_client):
    body = operator_client.get("/api/v1/satellites").json()
    assert {s["name"] for s in body["results"]} >= BUILT_INS
    for satellite in body["results"]:
        assert satellite["input_schema"]["type"] == "object" and satellite["description"]
    detail = operator_client.get("/api/v1/satellites/http.request/").json()
    assert detail["input_schema"]["required"] == ["url"]
    assert operator_client.get("/api/v1/satellites/nope").status_code == 404


def test_execute_queues_a_one_step_execution(operator_client, tenant):
    response = operator_client.post("/api/v1/satellites/echo/execute", {"inputs": {"message": "hi"}}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["satellite"] == "echo" and body["attempts"] == 0
    assert operator_client.get(f"/api/v1/executions/{body['id']}").json()["inputs"] == {"message": "hi"}
    # Executions are not cluster runs.
    assert operator_client.get("/api/v1/runs").json()["count"] == 0
    assert operator_client.get("/api/v1/executions?satellite=echo").json()["count"] == 1


@pytest.mark.parametrize(
    ("name", "inputs", "field"),
    [
        ("sleep", {}, "inputs.seconds"),
        ("sleep", {"seconds": "soon"}, "inputs.seconds"),
        ("sleep", {"seconds": 99999}, "inputs.seconds"),
        ("http.request", {"url": "https://example.com", "method": "BREW"}, "inputs.method"),
        ("json.transform", {"data": {}}, "inputs.expression"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_queued(operator_client, name, inputs, field):
    response = operator_client.post(f"/api/v1/satellites/{name}/execute", {"inputs": inputs}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not Run.objects.exists()


def test_an_idempotency_key_replays_the_first_response_and_starts_nothing(operator_client):
    body = {"inputs": {"message": "once"}}
    first = operator_client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = operator_client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Execution.objects.count() == 1
    other = operator_client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert other.json()["id"] != first.json()["id"]
    assert Execution.objects.count() == 2


def test_reusing_an_idempotency_key_for_a_different_request_is_a_conflict(operator_client):
    operator_client.post(
        "/api/v1/satellites/echo/execute", {"inputs": {"a": 1}}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    response = operator_client.post(
        "/api/v1/satellites/echo/execute", {"inputs": {"a": 2}}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 409
    assert Execution.objects.count() == 1


def test_idempotency_keys_are_scoped_per_tenant_and_endpoint(tenant, other_tenant, make_member):
    from tests.orchestration.factories import make_cluster

    ours = bearer_client(make_member(tenant, Role.OPERATOR), tenant)
    theirs = bearer_client(make_member(other_tenant, Role.OPERATOR), other_tenant)
    body = {"inputs": {"message": "x"}}
    a = ours.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    b = theirs.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert a.json()["id"] != b.json()["id"]
    cluster = make_cluster(tenant, "name: c\nsteps:\n  - {id: a, satellite: echo}\n")
    t1 = ours.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    t2 = ours.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert t1.status_code == 202 and t1.json()["id"] == t2.json()["id"]
    assert Run.objects.filter(cluster=cluster).count() == 1
    assert IdempotencyRecord.objects.count() == 3


def test_an_expired_idempotency_key_starts_new_work(operator_client):
    body = {"inputs": {}}
    first = operator_client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    from datetime import timedelta

    from django.utils import timezone

    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=25))
    second = operator_client.post("/api/v1/satellites/echo/execute", body, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert second.json()["id"] != first.json()["id"]
    assert IdempotencyRecord.objects.count() == 1


def test_secrets_are_write_only_and_stored_encrypted(tenant, make_member):
    client = bearer_client(make_member(tenant, Role.ADMIN), tenant)
    response = client.post("/api/v1/secrets", {"name": "API_TOKEN", "value": "hunter2-very-secret"}, format="json")
    assert response.status_code == 201, response.content
    assert "value" not in response.json()
    listed = client.get("/api/v1/secrets").json()["results"]
    assert listed == [
        {"name": "API_TOKEN", "created_at": listed[0]["created_at"], "updated_at": listed[0]["updated_at"]}
    ]
    stored = Secret.objects.get(name="API_TOKEN")
    assert "hunter2" not in stored.ciphertext
    assert client.post("/api/v1/secrets", {"name": "API_TOKEN", "value": "x"}, format="json").status_code == 409
    assert client.put("/api/v1/secrets/API_TOKEN", {"value": "rotated"}, format="json").status_code == 200
    from orchestration import vault

    assert vault.decrypt(Secret.objects.get(name="API_TOKEN").ciphertext) == "rotated"
    bad = client.post("/api/v1/secrets", {"name": "not a name", "value": "x"}, format="json")
    assert bad.status_code == 400 and "name" in bad.json()["error"]["details"]
    assert client.delete("/api/v1/secrets/API_TOKEN").status_code == 204
    assert not Secret.objects.exists()


def test_concurrent_first_requests_with_one_key_start_one_execution(transactional_db, tenant, make_member):
    import threading

    from django.db import connection

    user = make_member(tenant, Role.OPERATOR)
    barrier = threading.Barrier(4)
    answers = []

    def call():
        try:
            client = bearer_client(user, tenant)
            barrier.wait()
            response = client.post(
                "/api/v1/satellites/echo/execute", {"inputs": {"n": 1}}, format="json", HTTP_IDEMPOTENCY_KEY="race"
            )
            answers.append((response.status_code, response.json().get("id")))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [status for status, _ in answers] == [202] * 4
    assert len({execution_id for _, execution_id in answers}) == 1
    assert Execution.objects.count() == 1 and IdempotencyRecord.objects.count() == 1
