"""Cluster definitions over HTTP: formats, line-precise validation, hostile YAML, versions,
schedules, trigger inputs and concurrency."""

import json
import textwrap

import pytest
from django_celery_beat.models import PeriodicTask

from orchestration.definition_yaml import MAX_BYTES
from orchestration.models import Cluster, ClusterVersion, Run
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.orchestration.factories import make_cluster

GOOD = """\
name: nightly-report
schedule: "0 3 * * *"
inputs: {url: {type: string}}
steps:
  - id: fetch
    satellite: http.request
    inputs: {method: GET, url: "${{ inputs.url }}"}
    retries: 3
    timeout_seconds: 30
  - id: count
    satellite: json.transform
    depends_on: [fetch]
    inputs: {data: "${{ steps.fetch.outputs.body }}", expression: "length(items)"}
"""


@pytest.fixture
def admin(tenant, make_member):
    return make_member(tenant, Role.ADMIN)


@pytest.fixture
def client(admin, tenant):
    return bearer_client(admin, tenant)


def post_yaml(client, text, path="/api/v1/clusters"):
    return client.generic("POST", path, textwrap.dedent(text).encode(), content_type="application/yaml")


def errors_of(response) -> list[dict]:
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    return body["details"]["definition"]


def test_it_creates_a_cluster_from_yaml_with_its_schedule(client, tenant):
    response = post_yaml(client, GOOD)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "nightly-report" and body["version"] == 1
    assert [s["id"] for s in body["steps"]] == ["fetch", "count"]
    assert body["inputs"] == {"url": {"type": "string", "required": True}}
    cluster = Cluster.objects.get(pk=body["id"])
    task = PeriodicTask.objects.get(pk=cluster.periodic_task_id)
    assert task.task == "orchestration.trigger_scheduled"
    assert json.loads(task.kwargs) == {"cluster_id": str(cluster.pk)}
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "3", "*")


def test_it_accepts_json_with_a_definition_string(client):
    response = client.post(
        "/api/v1/clusters/", {"definition": GOOD.replace("nightly-report", "json-one")}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["definition"].startswith("name: json-one")


def test_every_validation_problem_is_reported_at_once_with_its_line(client):
    response = post_yaml(
        client,
        """\
        name: broken
        schedule: "every day"
        inputs: {limit: {type: integer}}
        steps:
          - id: a
            satellite: ecko
            depends_on: [b]
          - id: b
            satellite: echo
            depends_on: [a, ghost]
            inputs:
              m: "${{ inputs.nope }}"
              n: "${{ steps.c.outputs.x }}"
              o: "${{ whatever.x }}"
              p: "${{ inputs.limit"
          - id: c
            satellite: sleep
            inputs: {seconds: "soon"}
            retries: {count: 99, backoff: sideways}
          - id: c
            satellite: json.transform
            inputs: {data: 1, expression: "[[["}
            colour: blue
        """,
    )
    found = {(e["line"], e["message"].split(":")[0].split(" '")[0]) for e in errors_of(response)}
    by_line = {}
    for e in errors_of(response):
        by_line.setdefault(e["line"], []).append(e["message"])
    assert any("invalid cron expression" in m for m in by_line[2])
    assert any("unknown satellite 'ecko'" in m for m in by_line[6])
    assert any("dependency cycle: a → b → a" in m for m in by_line[7])
    assert any("unknown dependency 'ghost'" in m for m in by_line[10])
    assert any("unknown input 'nope'" in m for m in by_line[12])
    assert any("which is not upstream" in m for m in by_line[13])
    assert any("unknown template root 'whatever'" in m for m in by_line[14])
    assert any("unterminated template" in m for m in by_line[15])
    assert any("'soon' is not of type 'number'" in m for m in by_line[18])
    assert any("from 0 to 10" in m for m in by_line[19]) and any(
        "backoff" in m or "must be one of" in m for m in by_line[19]
    )
    assert any("duplicate step id 'c'" in m for m in by_line[20])
    assert any("invalid JMESPath expression" in m for m in by_line[22])
    assert any("unknown field 'colour'" in m for m in by_line[23])
    assert len(found) >= 13
    assert all(isinstance(e["line"], int) and isinstance(e["column"], int) for e in errors_of(response))
    assert not Cluster.objects.exists()


def test_a_yaml_syntax_error_names_its_line(client):
    problems = errors_of(post_yaml(client, "name: x\nsteps:\n  - id: a\n    satellite: [echo\n"))
    assert len(problems) == 1 and problems[0]["message"].startswith("YAML syntax error")
    assert problems[0]["line"] == 5


def test_a_billion_laughs_document_is_refused(client):
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    problems = errors_of(post_yaml(client, "\n".join(levels) + "\n"))
    assert "alias bomb" in problems[0]["message"] or "too many aliases" in problems[0]["message"]


def test_a_python_object_tag_is_refused_and_nothing_is_constructed(client, tmp_path):
    marker = tmp_path / "pwned"
    problems = errors_of(post_yaml(client, f'name: x\nsteps: !!python/object/apply:os.system ["touch {marker}"]\n'))
    assert problems[0]["line"] == 2 and "python/object" in problems[0]["message"]
    assert not marker.exists()


def test_deep_nesting_and_self_referencing_aliases_are_refused(client):
    assert "nesting deeper" in errors_of(post_yaml(client, "a: " + "[" * 60 + "]" * 60 + "\n"))[0]["message"]
    assert "contains it" in errors_of(post_yaml(client, "a: &a [*a]\n"))[0]["message"]


def test_an_oversized_definition_is_refused_with_413(client):
    body = "name: big\n# " + "x" * (MAX_BYTES + 10) + "\n"
    response = post_yaml(client, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_every_update_is_a_new_version_and_runs_record_theirs(client, tenant):
    cluster_id = post_yaml(client, GOOD).json()["id"]
    changed = GOOD.replace('schedule: "0 3 * * *"\n', "")
    response = client.generic(
        "PUT", f"/api/v1/clusters/{cluster_id}", changed.encode(), content_type="application/yaml"
    )
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["schedule"] == ""
    versions = client.get(f"/api/v1/clusters/{cluster_id}/versions").json()
    assert [v["version"] for v in versions["results"]] == [2, 1]
    assert ClusterVersion.objects.filter(cluster_id=cluster_id).count() == 2
    # Removing the schedule removed the beat entry.
    assert not PeriodicTask.objects.filter(name=f"cluster {cluster_id}").exists()
    operator = bearer_client(_member(tenant, Role.OPERATOR), tenant)
    run = operator.post(
        f"/api/v1/clusters/{cluster_id}/trigger", {"inputs": {"url": "https://example.com"}}, format="json"
    )
    assert run.status_code == 202, run.content
    assert run.json()["version"] == 2
    assert Run.objects.get(pk=run.json()["id"]).cluster_version.version == 2


def _member(tenant, role):
    from tests.factories import MembershipFactory, UserFactory

    return MembershipFactory(tenant=tenant, role=role, user=UserFactory()).user


def test_deleting_a_cluster_removes_its_schedule(client):
    cluster_id = post_yaml(client, GOOD).json()["id"]
    assert PeriodicTask.objects.filter(name=f"cluster {cluster_id}").exists()
    assert client.delete(f"/api/v1/clusters/{cluster_id}").status_code == 204
    assert not PeriodicTask.objects.filter(name=f"cluster {cluster_id}").exists()
    assert client.get(f"/api/v1/clusters/{cluster_id}").status_code == 404


def test_deleting_a_cluster_deletes_its_runs_steps_and_log_lines(client, tenant):
    """Log lines have no database-level foreign key (see StepLog.run): the ORM cascades."""
    from orchestration import services
    from orchestration.models import StepLog, StepRun

    cluster_id = post_yaml(client, GOOD).json()["id"]
    run = services.run_trigger(cluster=Cluster.objects.get(pk=cluster_id), inputs={"url": "https://example.com"})
    services.run_cancel(run=run)
    assert StepLog.objects.filter(run=run).exists()
    assert client.delete(f"/api/v1/clusters/{cluster_id}").status_code == 204
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not StepRun.objects.filter(run_id=run.pk).exists() and not StepLog.objects.filter(run_id=run.pk).exists()


def test_a_duplicate_name_is_a_conflict(client):
    assert post_yaml(client, GOOD).status_code == 201
    response = post_yaml(client, GOOD)
    assert response.status_code == 409 and response.json()["error"]["code"] == "CONFLICT"


def test_the_scheduled_task_triggers_a_run(tenant):
    from orchestration.tasks import trigger_scheduled

    cluster = make_cluster(tenant, 'name: cron\nschedule: "*/5 * * * *"\nsteps:\n  - {id: a, satellite: echo}\n')
    trigger_scheduled(str(cluster.pk))
    run = Run.objects.get(cluster=cluster)
    assert run.trigger == "schedule" and run.status == "running"


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        ({}, "inputs.url", "this input is required"),
        ({"url": 5}, "inputs.url", "must be of type string"),
        ({"url": "x", "extra": 1}, "inputs.extra", "unknown input; the cluster does not declare it"),
    ],
)
def test_trigger_inputs_are_checked_against_the_declaration(tenant, inputs, field, message):
    cluster = make_cluster(tenant, GOOD)
    operator = bearer_client(_member(tenant, Role.OPERATOR), tenant)
    response = operator.post(f"/api/v1/clusters/{cluster.pk}/trigger", {"inputs": inputs}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][field] == [message]
    assert not Run.objects.exists()


def test_concurrency_reject_refuses_a_second_active_run(tenant):
    cluster = make_cluster(
        tenant, "name: one\nconcurrency: {limit: 1, policy: reject}\nsteps:\n  - {id: a, satellite: echo}\n"
    )
    operator = bearer_client(_member(tenant, Role.OPERATOR), tenant)
    assert operator.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json").status_code == 202
    response = operator.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json")
    assert response.status_code == 409
    assert Run.objects.filter(cluster=cluster).count() == 1


def test_concurrency_queue_holds_extra_runs_until_a_slot_frees(tenant):
    cluster = make_cluster(tenant, "name: q\nconcurrency: 1\nsteps:\n  - {id: a, satellite: echo}\n")
    operator = bearer_client(_member(tenant, Role.OPERATOR), tenant)
    first = operator.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json").json()
    second = operator.post(f"/api/v1/clusters/{cluster.pk}/trigger", {}, format="json").json()
    assert first["status"] == "running" and second["status"] == "queued"
    assert second["steps"][0]["status"] == "pending"
    operator.post(f"/api/v1/runs/{first['id']}/cancel")
    second_run = Run.objects.get(pk=second["id"])
    assert second_run.status == "running"
    assert second_run.steps.get().status == "queued"


def test_control_characters_are_a_validation_error_not_a_crash(client):
    problems = errors_of(post_yaml(client, "name: x\nsteps:\n  - id: a\x1f\n"))
    assert problems == [
        {"line": 3, "column": 10, "path": "", "message": "YAML syntax error: character #x001f is not allowed"}
    ]
