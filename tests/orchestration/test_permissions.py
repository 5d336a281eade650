"""Who may do what on every orchestration endpoint (`tests.matrix`: roles, key scopes,
anonymous, another tenant, a suspended tenant), and the rules on top of the policy table."""

import pytest

from apikeys.models import ApiKey
from orchestration import services
from orchestration.models import Run
from tenants.policy import Action, Role
from tests.conftest import bearer_client
from tests.matrix import Case, PermissionMatrix
from tests.orchestration.factories import AgentFactory, key_client, make_cluster

DEFINITION = "name: perm\nsteps:\n  - {id: a, satellite: echo, inputs: {message: hi}}\n"
NEW_DEFINITION = "name: perm-new\nsteps:\n  - {id: a, satellite: echo}\n"
CLUSTER = "/api/v1/clusters/{cluster}"


class TestClusterEndpoints(PermissionMatrix):
    cases = [
        Case("clusters.list", "get", "/api/v1/clusters", Action.READ, 200),
        Case("clusters.create", "post", "/api/v1/clusters", Action.WRITE, 201, {"definition": NEW_DEFINITION}),
        Case("clusters.retrieve", "get", CLUSTER, Action.READ, 200),
        Case("clusters.replace", "put", CLUSTER, Action.WRITE, 200, {"definition": DEFINITION}),
        Case("clusters.delete", "delete", CLUSTER, Action.WRITE, 204),
        Case("clusters.versions", "get", CLUSTER + "/versions", Action.READ, 200),
        Case("clusters.trigger", "post", CLUSTER + "/trigger", Action.EXECUTE, 202, {"inputs": {}}),
    ]

    def make_data(self, tenant, actor):
        return {"cluster": make_cluster(tenant, DEFINITION, actor=actor).pk}


class TestRunEndpoints(PermissionMatrix):
    cases = [
        Case("runs.list", "get", "/api/v1/runs", Action.READ, 200),
        Case("runs.retrieve", "get", "/api/v1/runs/{run}", Action.READ, 200),
        Case("runs.logs", "get", "/api/v1/runs/{run}/logs", Action.READ, 200),
        Case("runs.cancel", "post", "/api/v1/runs/{run}/cancel", Action.EXECUTE, 200),
        Case("runs.retry", "post", "/api/v1/runs/{failed}/retry", Action.EXECUTE, 202),
        Case("executions.list", "get", "/api/v1/executions", Action.READ, 200),
        Case("executions.retrieve", "get", "/api/v1/executions/{execution}", Action.READ, 200),
        Case("satellites.list", "get", "/api/v1/satellites", Action.READ, 200),
        Case("satellites.execute", "post", "/api/v1/satellites/echo/execute", Action.EXECUTE, 202,
             {"inputs": {"message": "x"}}),
    ]

    def make_data(self, tenant, actor):
        run = services.run_trigger(cluster=make_cluster(tenant, DEFINITION), inputs={})
        failed = services.run_trigger(cluster=make_cluster(tenant, DEFINITION.replace("perm", "perm2")), inputs={})
        Run.objects.filter(pk=failed.pk).update(status="failed")
        execution = services.execution_create(tenant=tenant, satellite="echo", inputs={})
        return {"run": run.pk, "failed": failed.pk, "execution": execution.pk}


class TestAgentEndpoints(PermissionMatrix):
    cases = [
        Case("agents.list", "get", "/api/v1/agents", Action.READ, 200),
        Case("agents.create", "post", "/api/v1/agents", Action.WRITE, 201,
             {"name": "new", "prompt": "p", "model": "m"}),
        Case("agents.retrieve", "get", "/api/v1/agents/{agent}", Action.READ, 200),
        Case("agents.update", "patch", "/api/v1/agents/{agent}", Action.WRITE, 200, {"description": "d"}),
        Case("agents.delete", "delete", "/api/v1/agents/{agent}", Action.WRITE, 204),
        Case("tasks.list", "get", "/api/v1/tasks", Action.READ, 200),
        Case("tasks.create", "post", "/api/v1/tasks", Action.EXECUTE, 201, {"title": "t", "agent_id": "{agent}"}),
        Case("tasks.retrieve", "get", "/api/v1/tasks/{task}", Action.READ, 200),
    ]

    def make_data(self, tenant, actor):
        agent = AgentFactory(tenant=tenant, created_by=actor)
        task = services.agent_task_create(tenant=tenant, agent=agent, title="t", actor=actor)
        return {"agent": agent.pk, "task": task.pk}


class TestSecretEndpoints(PermissionMatrix):
    cases = [
        Case("secrets.list", "get", "/api/v1/secrets", Action.READ, 200),
        Case("secrets.create", "post", "/api/v1/secrets", Action.ADMINISTER, 201, {"name": "NEW", "value": "v"}),
        Case("secrets.retrieve", "get", "/api/v1/secrets/{secret}", Action.READ, 200),
        Case("secrets.replace", "put", "/api/v1/secrets/{secret}", Action.ADMINISTER, 200, {"value": "v2"}),
        Case("secrets.delete", "delete", "/api/v1/secrets/{secret}", Action.ADMINISTER, 204),
    ]

    def make_data(self, tenant, actor):
        services.secret_set(tenant=tenant, name="TOKEN", value="s3cret")
        return {"secret": "TOKEN"}


def test_another_tenants_key_sees_empty_lists(tenant, other_tenant):
    make_cluster(tenant, DEFINITION)
    services.execution_create(tenant=tenant, satellite="echo", inputs={})
    services.agent_task_create(tenant=tenant, agent=AgentFactory(tenant=tenant), title="t")
    services.secret_set(tenant=tenant, name="TOKEN", value="s3cret")
    client = key_client(other_tenant, ["read", "write", "execute", "admin"])
    for path in ("/api/v1/clusters", "/api/v1/runs", "/api/v1/executions", "/api/v1/agents", "/api/v1/tasks",
                 "/api/v1/secrets"):
        assert client.get(path).json()["count"] == 0, path


def test_a_task_cannot_use_another_tenants_agent(tenant, outsider, other_tenant):
    agent = AgentFactory(tenant=tenant)
    client = bearer_client(outsider, other_tenant)
    response = client.post("/api/v1/tasks", {"title": "x", "agent_id": str(agent.pk)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["agent_id"] == ["Unknown agent."]


@pytest.mark.django_db
def test_members_manage_only_their_own_clusters(tenant, make_member):
    author, other = make_member(tenant, Role.MEMBER), make_member(tenant, Role.MEMBER)
    cluster = make_cluster(tenant, DEFINITION, actor=author)
    body = {"definition": DEFINITION}
    assert bearer_client(other, tenant).put(f"/api/v1/clusters/{cluster.pk}", body, format="json").status_code == 403
    assert bearer_client(author, tenant).put(f"/api/v1/clusters/{cluster.pk}", body, format="json").status_code == 200


@pytest.mark.parametrize("revoke", ["key", "tenant"])
def test_a_run_log_stream_ends_within_seconds_once_its_access_is_revoked(db, tenant, monkeypatch, revoke):
    """Before the fix a stream opened with a key kept following the run after the key was
    revoked or the tenant suspended, until the run ended or the stream idled out."""
    import json

    from apikeys import services as apikey_services
    from orchestration.api import follow as run_follow
    from tenants import services as tenant_services

    monkeypatch.setattr(run_follow, "SSE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(run_follow, "SSE_ACCESS_RECHECK_SECONDS", 0.2)
    monkeypatch.setattr(run_follow, "SSE_IDLE_SECONDS", 3)  # the end without the re-check
    cluster = make_cluster(tenant, DEFINITION.replace("perm", "streamed"))
    run = services.run_trigger(cluster=cluster, inputs={})  # queued; no worker will take it
    client = key_client(tenant, ["read"])
    response = client.get(f"/api/v1/runs/{run.pk}/logs", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    assert b"event: status" in next(chunks)  # the stream is live
    if revoke == "key":
        for stale in ApiKey.objects.filter(tenant=tenant):
            apikey_services.api_key_revoke(key=stale)
    else:
        tenant_services.tenant_suspend(tenant=tenant)
    rest = b"".join(chunks).decode()
    end = [block for block in rest.split("\n\n") if block.startswith("event: end")]
    assert end, rest
    assert json.loads(end[0].split("data: ", 1)[1]) == {"run_id": str(run.pk), "status": None,
                                                         "reason": "access revoked"}
