"""Who may do what (role × action, key scope × action) and tenant isolation (404) on every
orchestration endpoint."""

import pytest

from apikeys.models import ApiKey
from orchestration import engine, services
from orchestration.models import Run
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.factories import AgentFactory, key_client, make_cluster

DEFINITION = "name: perm\nsteps:\n  - {id: a, satellite: echo, inputs: {message: hi}}\n"
NEW_DEFINITION = "name: perm-{n}\nsteps:\n  - {id: a, satellite: echo}\n"


@pytest.fixture
def cluster(tenant):
    return make_cluster(tenant, DEFINITION)


def request_for(action: str, cluster, n: int):
    """(method, path, body) of each action under test."""
    return {
        "list_clusters": ("get", "/api/v1/clusters", None),
        "list_runs": ("get", "/api/v1/runs", None),
        "list_satellites": ("get", "/api/v1/satellites", None),
        "create_cluster": ("post", "/api/v1/clusters", {"definition": NEW_DEFINITION.replace("{n}", str(n))}),
        "create_agent": ("post", "/api/v1/agents", {"name": f"a{n}", "prompt": "p", "model": "m"}),
        "trigger": ("post", f"/api/v1/clusters/{cluster.pk}/trigger", {"inputs": {}}),
        "execute": ("post", "/api/v1/satellites/echo/execute", {"inputs": {"message": "x"}}),
        "create_secret": ("post", "/api/v1/secrets", {"name": f"S{n}", "value": "v"}),
    }[action]


EXPECTED_BY_ROLE = {
    # action: minimum role
    "list_clusters": Role.VIEWER,
    "list_runs": Role.VIEWER,
    "list_satellites": Role.VIEWER,
    "create_cluster": Role.MEMBER,
    "create_agent": Role.MEMBER,
    "trigger": Role.OPERATOR,
    "execute": Role.OPERATOR,
    "create_secret": Role.ADMIN,
}
RANK = [Role.VIEWER, Role.MEMBER, Role.OPERATOR, Role.ADMIN, Role.OWNER]


@pytest.mark.parametrize("role", RANK)
@pytest.mark.parametrize("action", list(EXPECTED_BY_ROLE))
def test_roles_follow_the_policy_table(tenant, make_member, cluster, role, action):
    client = bearer_client(make_member(tenant, role), tenant)
    method, path, body = request_for(action, cluster, RANK.index(role))
    response = getattr(client, method)(path, body, format="json")
    allowed = RANK.index(role) >= RANK.index(EXPECTED_BY_ROLE[action])
    if allowed:
        assert response.status_code in (200, 201, 202), response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "FORBIDDEN"


KEY_MATRIX = {
    ("read",): {"list_clusters", "list_runs", "list_satellites"},
    ("write",): {"list_clusters", "list_runs", "list_satellites", "create_cluster", "create_agent"},
    ("execute",): {"list_clusters", "list_runs", "list_satellites", "trigger", "execute"},
    ("admin",): {"list_clusters", "list_runs", "list_satellites", "create_secret"},
}


@pytest.mark.parametrize("scopes", list(KEY_MATRIX))
@pytest.mark.parametrize("action", list(EXPECTED_BY_ROLE))
def test_api_keys_never_exceed_their_scopes(tenant, cluster, scopes, action):
    client = key_client(tenant, scopes)
    method, path, body = request_for(action, cluster, len(scopes[0]))
    response = getattr(client, method)(path, body, format="json")
    if action in KEY_MATRIX[scopes]:
        assert response.status_code in (200, 201, 202), response.content
    else:
        assert response.status_code == 403, response.content


def test_anonymous_callers_are_refused(api_client, cluster):
    for path in ("/api/v1/clusters", "/api/v1/satellites", "/api/v1/runs", f"/api/v1/clusters/{cluster.pk}"):
        assert api_client.get(path).status_code == 401


@pytest.fixture
def foreign_objects(tenant, owner):
    """One of everything in `tenant`, for an outsider to probe."""
    cluster = make_cluster(tenant, DEFINITION)
    run = engine.run_trigger(cluster=cluster, inputs={})
    failed = engine.run_trigger(cluster=make_cluster(tenant, DEFINITION.replace("perm", "perm2")), inputs={})
    Run.objects.filter(pk=failed.pk).update(status="failed")
    execution = engine.execution_create(tenant=tenant, satellite="echo", inputs={})
    agent = AgentFactory(tenant=tenant)
    task = services.agent_task_create(tenant=tenant, agent=agent, title="t")
    services.secret_set(tenant=tenant, name="TOKEN", value="s3cret")
    return {"cluster": cluster, "run": run, "failed": failed, "execution": execution, "agent": agent, "task": task}


def foreign_requests(o):
    c, r = o["cluster"].pk, o["run"].pk
    return [
        ("get", f"/api/v1/clusters/{c}"),
        ("put", f"/api/v1/clusters/{c}"),
        ("delete", f"/api/v1/clusters/{c}"),
        ("get", f"/api/v1/clusters/{c}/versions"),
        ("post", f"/api/v1/clusters/{c}/trigger"),
        ("get", f"/api/v1/runs/{r}"),
        ("get", f"/api/v1/runs/{r}/logs"),
        ("post", f"/api/v1/runs/{r}/cancel"),
        ("post", f"/api/v1/runs/{o['failed'].pk}/retry"),
        ("get", f"/api/v1/executions/{o['execution'].pk}"),
        ("get", f"/api/v1/agents/{o['agent'].pk}"),
        ("patch", f"/api/v1/agents/{o['agent'].pk}"),
        ("delete", f"/api/v1/agents/{o['agent'].pk}"),
        ("get", f"/api/v1/tasks/{o['task'].pk}"),
        ("get", "/api/v1/secrets/TOKEN"),
        ("put", "/api/v1/secrets/TOKEN"),
        ("delete", "/api/v1/secrets/TOKEN"),
    ]


def test_every_object_endpoint_answers_404_to_another_tenant(foreign_objects, outsider, other_tenant):
    client = bearer_client(outsider, other_tenant)
    for method, path in foreign_requests(foreign_objects):
        response = getattr(client, method)(path, {"definition": DEFINITION, "value": "x", "name": "n"}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_another_tenants_key_sees_404_and_empty_lists(foreign_objects, other_tenant):
    client = key_client(other_tenant, ["read", "write", "execute", "admin"])
    for method, path in foreign_requests(foreign_objects):
        response = getattr(client, method)(path, {"definition": DEFINITION, "value": "x", "name": "n"}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    for path in (
        "/api/v1/clusters",
        "/api/v1/runs",
        "/api/v1/executions",
        "/api/v1/agents",
        "/api/v1/tasks",
        "/api/v1/secrets",
    ):
        assert client.get(path).json()["count"] == 0, path


def test_a_task_cannot_use_another_tenants_agent(foreign_objects, outsider, other_tenant):
    client = bearer_client(outsider, other_tenant)
    response = client.post("/api/v1/tasks", {"title": "x", "agent_id": str(foreign_objects["agent"].pk)}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["agent_id"] == ["Unknown agent."]


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
    from orchestration.api import views as orchestration_views
    from tenants import services as tenant_services

    monkeypatch.setattr(orchestration_views, "SSE_POLL_SECONDS", 0.05)
    monkeypatch.setattr(orchestration_views, "SSE_ACCESS_RECHECK_SECONDS", 0.2)
    monkeypatch.setattr(orchestration_views, "SSE_IDLE_SECONDS", 3)  # the end without the re-check
    cluster = make_cluster(tenant, DEFINITION.replace("perm", "streamed"))
    run = engine.run_trigger(cluster=cluster, inputs={})  # queued; no worker will take it
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
