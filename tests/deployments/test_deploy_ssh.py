"""Deploys end to end: the API, a real Celery worker running the generated cluster, and a real
sshd on loopback (tests/deployments/conftest.py) running the commands in a temporary directory."""
import subprocess

import pytest

from deployments import services
from deployments.models import Deployment, Host
from orchestration import services as orchestration_services
from orchestration.models import StepRun
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.deployments.factories import OTHER_HOST_KEY, make_host, make_project
from tests.orchestration.factories import make_cluster
from tests.orchestration.helpers import wait_for, wait_for_run

pytestmark = pytest.mark.worker

HOSTILE = ["a; rm -rf x", "$(touch injected)", "it's \"quoted\"", "two  spaces"]


@pytest.fixture
def admin_client(tenant, make_member):
    return bearer_client(make_member(tenant, Role.ADMIN), tenant)


def deploy_and_wait(client, name: str = "app", timeout: float = 60.0) -> Deployment:
    response = client.post(f"/api/v1/projects/{name}/deploy")
    assert response.status_code == 202, response.content
    pk = response.json()["id"]
    return wait_for(lambda: Deployment.objects.filter(pk=pk).exclude(status__in=["queued", "running"]).first(),
                    timeout=timeout, what=f"deployment {pk} to end")


def test_a_deploy_runs_its_steps_on_the_host_each_argument_staying_one(live_worker, tenant, admin_client, sshd,
                                                                      workdir):
    host = make_host(tenant, sshd=sshd)
    make_project(tenant, host, directory=str(workdir), deploy_steps=[
        ["touch", *HOSTILE],
        ["sh", "-c", 'printf "%s|" "$@" > args', "sh", *HOSTILE],
    ])
    deployment = deploy_and_wait(admin_client)
    assert deployment.status == "succeeded", deployment.error
    assert sorted(p.name for p in workdir.iterdir()) == sorted([*HOSTILE, "args"])
    assert (workdir / "args").read_text() == "|".join(HOSTILE) + "|"
    assert not (workdir / "injected").exists()
    steps = StepRun.objects.filter(run_id=deployment.run_id).order_by("step_id")
    assert [(s.step_id, s.status) for s in steps] == [("step_1", "succeeded"), ("step_2", "succeeded")]


def test_a_wrong_host_key_fails_the_deploy_before_any_command(live_worker, tenant, admin_client, sshd, workdir):
    host = make_host(tenant, sshd=sshd, host_key=OTHER_HOST_KEY)
    make_project(tenant, host, directory=str(workdir), deploy_steps=[["touch", "ran"]])
    deployment = deploy_and_wait(admin_client)
    assert deployment.status == "failed"
    assert "host key" in deployment.error
    step = StepRun.objects.get(run_id=deployment.run_id, step_id="step_1")
    assert step.status == "failed" and step.attempts == 1 and "host key" in step.error
    assert not (workdir / "ran").exists()


def test_the_default_deploy_clones_then_pulls_and_runs_compose_up(live_worker, tenant, admin_client, sshd, workdir,
                                                                tmp_path):
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "clone", "-q", str(origin), str(seed)], check=True)
    (seed / "compose.yaml").write_text("services: {}\n")
    subprocess.run([*git, "-C", str(seed), "add", "."], check=True)
    subprocess.run([*git, "-C", str(seed), "commit", "-qm", "one"], check=True)
    subprocess.run(["git", "-C", str(seed), "push", "-q", "origin", "HEAD:main"], check=True)
    # A stand-in `docker` on the host's PATH records how it was called.
    docker = sshd.bin_dir / "docker"
    docker.write_text(f'#!/bin/sh\nprintf "%s\\n" "$PWD $*" >> {workdir}/docker.calls\n')
    docker.chmod(0o755)
    try:
        host = make_host(tenant, sshd=sshd)
        app = workdir / "app"
        make_project(tenant, host, directory=str(app), repository=str(origin), branch="main")
        first = deploy_and_wait(admin_client)
        assert first.status == "succeeded", first.error
        assert (app / "compose.yaml").exists()
        (seed / "second").write_text("2")
        subprocess.run([*git, "-C", str(seed), "add", "."], check=True)
        subprocess.run([*git, "-C", str(seed), "commit", "-qm", "two"], check=True)
        subprocess.run(["git", "-C", str(seed), "push", "-q", "origin", "HEAD:main"], check=True)
        second = deploy_and_wait(admin_client)
        assert second.status == "succeeded", second.error
        assert (app / "second").exists()
        sync = StepRun.objects.get(run_id=second.run_id, step_id="sync")
        assert sync.output["action"] == "pulled" and len(sync.output["commit"]) == 40
        calls = (workdir / "docker.calls").read_text().splitlines()
        assert calls == [f"{app} compose up -d --remove-orphans"] * 2
    finally:
        docker.unlink()


def test_trust_on_first_use_pins_the_first_key_seen(live_worker, tenant, admin_client, sshd, workdir):
    host = make_host(tenant, sshd=sshd)
    Host.objects.filter(pk=host.pk).update(host_key="", trust_on_first_use=True)  # as the admin sets it
    services.project_create(tenant=tenant, name="app", host=Host.objects.get(pk=host.pk), directory=str(workdir),
                            deploy_steps=[["touch", "ran"]])
    deployment = deploy_and_wait(admin_client)
    assert deployment.status == "succeeded", deployment.error
    host.refresh_from_db()
    assert host.host_key == sshd.host_key and host.trust_on_first_use is False


def test_ssh_exec_in_any_cluster_is_not_retried_after_a_host_key_mismatch(live_worker, tenant, sshd):
    make_host(tenant, sshd=sshd, host_key=OTHER_HOST_KEY)
    cluster = make_cluster(tenant, RETRIED)
    run = wait_for_run(orchestration_services.run_trigger(cluster=cluster, inputs={}).pk)
    assert run.status == "failed"
    step = StepRun.objects.get(run=run, step_id="remote")
    assert step.attempts == 1 and "host key check failed for web" in step.error


RETRIED = """
name: remote-check
steps:
  - id: remote
    satellite: ssh.exec
    retries: {count: 3, backoff: fixed, delay_seconds: 0}
    inputs: {host: web, argv: ["true"]}
"""


def test_requests_during_a_deploy_fold_into_one_follow_up_that_runs_after_it(live_worker, tenant, admin_client,
                                                                            sshd, workdir):
    host = make_host(tenant, sshd=sshd)
    make_project(tenant, host, directory=str(workdir), deploy_steps=[
        ["sh", "-c", "echo start >> runs; sleep 2; echo end >> runs"]])
    first = admin_client.post("/api/v1/projects/app/deploy").json()
    wait_for(lambda: (workdir / "runs").exists(), timeout=30, what="the first deploy's command")
    answers = [admin_client.post("/api/v1/projects/app/deploy").json() for _ in range(5)]
    assert {a["id"] for a in answers} == {answers[0]["id"]} and answers[0]["id"] != first["id"]
    follow_up = wait_for(lambda: Deployment.objects.filter(pk=answers[0]["id"], status="succeeded").first(),
                         timeout=60, what="the follow-up")
    assert Deployment.objects.get(pk=first["id"]).status == "succeeded"
    assert follow_up.requests == 5 and Deployment.objects.filter(project__name="app").count() == 2
    # One after the other, never overlapping.
    assert (workdir / "runs").read_text().split() == ["start", "end", "start", "end"]


def test_a_deploy_step_past_its_limit_times_out_and_opens_an_incident(live_worker, tenant, admin_client, sshd,
                                                                      workdir):
    from monitoring.models import Incident

    host = make_host(tenant, sshd=sshd)
    make_project(tenant, host, directory=str(workdir), deploy_steps=[["sleep", "57"]], timeout_seconds=12)
    deployment = deploy_and_wait(admin_client, timeout=40)
    assert deployment.status == "failed" and "timeout" in deployment.error
    step = StepRun.objects.get(run_id=deployment.run_id, step_id="step_1")
    assert step.status == "timed_out"
    incident = Incident.objects.get(pk=deployment.incident_id)
    assert incident.state == "open" and incident.title == "Deploy of app timed out"
    assert not subprocess.run(["pgrep", "-f", "sleep 57"], capture_output=True).stdout  # stopped on the host
