"""Work a member's definitions make a worker do is bounded while it is produced: prompt and
`${{ }}` expansion, JMESPath evaluation and output size; hostile expressions and YAML numbers
are refused up front with a 400."""

import json
import time

import pytest

from orchestration.budget import Budget, BudgetExceeded, json_size
from orchestration.satellites.expressions import compile_expression, evaluate
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.helpers import wait_for_run, wait_for_task

# 26 nested [@, @] projections, 155 characters: the result's JSON doubles 26 times (2^26 × the input).
DOUBLING = ".".join(["[@,@]"] * 26)


@pytest.fixture
def client(tenant, make_member):
    return bearer_client(make_member(tenant, Role.OPERATOR), tenant)


@pytest.fixture
def admin_client(tenant, make_member):
    return bearer_client(make_member(tenant, Role.ADMIN), tenant)


def test_json_size_matches_json_dumps_and_stops_at_its_budget():
    value = {"a": [1, 2.5, None, True, False, "x" * 100], "b": {"c": -(10**12), "e": {}}, "d": []}
    assert json_size(value, Budget(10**6, "v")) == len(json.dumps(value, separators=(",", ":")))
    shared = "x" * 1000
    for _ in range(40):  # 2^40 × 1 KB as JSON, a few hundred bytes in memory
        shared = [shared, shared]
    started = time.process_time()
    with pytest.raises(BudgetExceeded, match="is over its limit of 524,288 bytes"):
        json_size(shared, Budget(512 * 1024, "the output"))
    assert time.process_time() - started < 1


def test_a_doubling_expression_is_stopped_inside_functions_before_c_code_runs():
    started = time.process_time()
    with pytest.raises(BudgetExceeded):
        evaluate(f"to_string({DOUBLING})", {"a": "x" * 10})
    with pytest.raises(BudgetExceeded):
        evaluate(f"{DOUBLING} == {DOUBLING}", {"a": "x" * 10})
    with pytest.raises(BudgetExceeded):  # flattening copies for real: counted before each copy
        evaluate(".".join(["[@,@][]"] * 30), [1])
    assert time.process_time() - started < 5
    assert evaluate("items[?a=='x'].b | sum(@)", {"items": [{"a": "x", "b": 2}] * 3}) == 6


def test_an_expression_nested_deeper_than_the_parser_can_go_is_refused():
    with pytest.raises(ValueError, match="nested too deeply"):
        compile_expression("(" * 990 + "@" + ")" * 990)


def test_the_doubling_jmespath_fails_fast_with_a_clear_error(live_worker, client):
    started = time.monotonic()
    response = client.post(
        "/api/v1/satellites/json.transform/execute",
        {"inputs": {"data": {"a": "x" * 10}, "expression": DOUBLING}},
        format="json",
    )
    assert response.status_code == 202, response.content
    run = wait_for_run(response.json()["id"], timeout=30)
    assert time.monotonic() - started < 30
    step = run.steps.get()
    assert run.status == "failed"
    assert step.error == "the step's output is over its limit of 524,288 bytes"
    assert step.attempts == 1  # deterministic: not retried


def test_a_prompt_of_90_kb_of_input_placeholders_fails_fast_with_a_clear_error(live_worker, client):
    # 9,000 × 10 KB would be 90 MB of prompt (30,000 × 20 KB: 600 MB and a 1.8 GB worker).
    agent = client.post(
        "/api/v1/agents", {"name": "bomb", "prompt": "{{input}}" * 10_000, "model": "tiny-1"}, format="json"
    )
    assert agent.status_code == 201, agent.content
    started = time.monotonic()
    response = client.post(
        "/api/v1/tasks", {"title": "t", "agent_id": agent.json()["id"], "input": "y" * 10_000}, format="json"
    )
    assert response.status_code == 201, response.content
    task = wait_for_task(response.json()["id"], {"completed", "failed"}, timeout=30)
    assert time.monotonic() - started < 30
    assert task.status == "failed"
    assert task.error == "step main failed: the rendered prompt is over its limit of 1,048,576 characters"


def test_a_template_naming_a_large_input_thousands_of_times_fails_fast(live_worker, admin_client, client):
    definition = (
        "name: expand\ninputs: {x: {type: string}}\nsteps:\n  - id: e\n    satellite: echo\n"
        f"    inputs: {{message: \"{'${{ inputs.x }}' * 15_000}\"}}\n"
    )
    created = admin_client.post("/api/v1/clusters", {"definition": definition}, format="json")
    assert created.status_code == 201, created.content
    started = time.monotonic()
    response = client.post(
        f"/api/v1/clusters/{created.json()['id']}/trigger", {"inputs": {"x": "z" * 10_000}}, format="json"
    )
    assert response.status_code == 202, response.content
    run = wait_for_run(response.json()["id"], timeout=30)
    assert time.monotonic() - started < 30
    assert run.status == "failed"
    assert run.steps.get().error == "the step's inputs after templating is over its limit of 2,097,152 bytes"


def _cluster_with(message: str, expression: str = "@") -> str:
    return (
        "name: hostile\nsteps:\n  - id: t\n    satellite: json.transform\n"
        f"    inputs: {{data: {message}, expression: \"{expression}\"}}\n"
    )


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("1" * 4301, "an integer with too many digits"),
        ("1.0e+400", "a number that is not finite"),
        (".nan", "a number that is not finite"),
    ],
)
def test_a_yaml_number_json_cannot_hold_is_a_400(admin_client, number, problem):
    response = admin_client.post("/api/v1/clusters", {"definition": _cluster_with(number)}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert problem in json.dumps(response.json()["error"]["details"])


def test_a_jmespath_nested_deeper_than_the_parser_can_go_is_a_400(admin_client):
    deep = "(" * 900 + "@" + ")" * 900
    response = admin_client.post("/api/v1/clusters", {"definition": _cluster_with("1", deep)}, format="json")
    assert response.status_code == 400, response.content
    assert "nested too deeply" in json.dumps(response.json()["error"]["details"])


def test_a_satellite_that_transforms_its_inputs_cannot_take_a_secret(admin_client, client, tenant):
    """`reverse(@)` of a secret would defeat masking (which knows only the secret's own text)."""
    from orchestration import services
    from orchestration.engine import worker

    services.secret_set(tenant=tenant, name="TOKEN", value="s3cret-value")
    response = admin_client.post(
        "/api/v1/clusters", {"definition": _cluster_with('"${{ secrets.TOKEN }}"', "reverse(@)")}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "secrets cannot be used by json.transform" in json.dumps(response.json()["error"]["details"])
    # An execution's inputs are templated too: refused when the step runs.
    run = services.execution_create(
        tenant=tenant, satellite="json.transform", inputs={"data": "${{ secrets.TOKEN }}", "expression": "reverse(@)"}
    )
    step = run.steps.get()
    worker.step_execute(step_pk=step.pk, task_id=step.task_id, run_pk=run.pk, step_id=step.step_id, attempt=1)
    step.refresh_from_db()
    assert step.status == "failed" and step.output is None
    assert step.error.startswith("secrets cannot be used by json.transform")
    assert "eulav-terc3s" not in json.dumps(client.get(f"/api/v1/executions/{run.pk}").json())
