"""Management commands and the execution rate limit."""

import pytest
from django.core.management import CommandError, call_command

from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.factories import AgentFactory, key_client


def test_validate_cluster_reports_problems_with_file_and_line(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("name: ok\nsteps:\n  - {id: a, satellite: echo}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, satellite: nope}\n")
    with pytest.raises(CommandError, match="1 invalid"):
        call_command("validate_cluster", str(good), str(bad))
    out, err = capsys.readouterr()
    assert f"{good}: ok (ok, 1 steps)" in out
    assert f"{bad}:3:" in err and "unknown satellite 'nope'" in err


def test_reap_runs_command(db, capsys):
    call_command("reap_runs")
    assert "reaped 0 step(s)" in capsys.readouterr().out


def test_execution_endpoints_are_rate_limited_per_tenant(tenant, make_member):
    client = bearer_client(make_member(tenant, Role.OPERATOR), tenant)
    for _ in range(10):
        assert client.post("/api/v1/satellites/echo/execute", {"inputs": {}}, format="json").status_code == 202
    refused = client.post("/api/v1/satellites/echo/execute", {"inputs": {}}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED" and int(refused["Retry-After"]) > 0
    # Reading is not an execution.
    assert client.get("/api/v1/satellites").status_code == 200


def test_agent_tasks_need_the_execute_scope_and_count_as_executions(tenant, make_member):
    from tests.factories import TenantFactory

    body = {"title": "t", "agent_id": str(AgentFactory(tenant=tenant).pk)}
    client = key_client(tenant, ["execute"])
    for _ in range(10):
        assert client.post("/api/v1/tasks", body, format="json").status_code == 201
    refused = client.post("/api/v1/tasks", body, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert client.get("/api/v1/tasks").status_code == 200  # reading is not an execution
    # In a tenant with budget left: a write key and a member may not start work.
    other = TenantFactory()
    body = {"title": "t", "agent_id": str(AgentFactory(tenant=other).pk)}
    assert key_client(other, ["read", "write"]).post("/api/v1/tasks", body, format="json").status_code == 403
    member = bearer_client(make_member(other, Role.MEMBER), other)
    assert member.post("/api/v1/tasks", body, format="json").status_code == 403
