"""The deployments API without a worker: hosts, the deploy key, projects, validation, history,
isolation, audit, and coalescing of concurrent deploy requests."""
import threading

import pytest
from django.db import connections

from core.models import AuditEvent
from deployments import services, workflow
from deployments.models import Deployment, Host, Project
from orchestration import services as orchestration_services
from orchestration import vault
from orchestration.models import Run
from tenants.policy import Role
from tests.conftest import bearer_client
from tests.deployments.factories import OTHER_HOST_KEY, make_host, make_project


@pytest.fixture
def admin(tenant, make_member):
    return make_member(tenant, Role.ADMIN)


@pytest.fixture
def client(admin, tenant):
    return bearer_client(admin, tenant)


HOST = {"name": "web", "address": "192.0.2.10", "port": 2222, "username": "deploy", "host_key": OTHER_HOST_KEY}


def test_a_host_is_created_with_its_key_pinned_and_the_tenant_gets_a_deploy_key(client, tenant):
    response = client.post("/api/v1/hosts", HOST, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["host_key"] == OTHER_HOST_KEY and body["trust_on_first_use"] is False
    key = client.get("/api/v1/hosts/deploy-key").json()
    assert key["public_key"].startswith("ssh-ed25519 ") and key["fingerprint"].startswith("SHA256:")
    stored = services.deploy_key_get_or_create(tenant=tenant)
    assert "PRIVATE KEY" not in stored.private_key_encrypted
    assert "OPENSSH PRIVATE KEY" in vault.decrypt(stored.private_key_encrypted)
    assert client.get("/api/v1/hosts/deploy-key").json() == key  # one pair per tenant


def test_an_ssh_keyscan_line_is_accepted_as_the_pin(client):
    line = f"# 192.0.2.10:22 SSH-2.0-OpenSSH_9.2\n192.0.2.10 {OTHER_HOST_KEY}\n"
    response = client.post("/api/v1/hosts", {**HOST, "host_key": line}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["host_key"] == OTHER_HOST_KEY


@pytest.mark.parametrize("field, value", [
    ("name", "Web_1"), ("address", "-oProxyCommand=x"), ("port", 0), ("username", "root; id"),
    ("host_key", "not a key"), ("host_key", "ssh-ed25519 AAAA!!"),
])
def test_a_bad_host_field_is_400_and_saves_nothing(client, field, value):
    response = client.post("/api/v1/hosts", {**HOST, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not Host.objects.exists()


def test_trust_on_first_use_cannot_be_set_through_the_api(client, tenant):
    response = client.post("/api/v1/hosts", {**HOST, "trust_on_first_use": True}, format="json")
    assert response.status_code == 201 and response.json()["trust_on_first_use"] is False
    response = client.patch(f"/api/v1/hosts/{response.json()['id']}", {"trust_on_first_use": True}, format="json")
    assert response.status_code == 200 and response.json()["trust_on_first_use"] is False
    assert not Host.objects.filter(trust_on_first_use=True).exists()


def test_a_project_gets_a_generated_deploy_cluster_and_a_config_hash(client, tenant):
    host = make_host(tenant)
    body = {"name": "shop", "host": "web", "directory": "/srv/shop", "repository": "https://example.com/shop.git",
            "branch": "main", "services": [{"name": "api", "healthcheck_url": "https://shop.example.com/health"}]}
    response = client.post("/api/v1/projects", body, format="json")
    assert response.status_code == 201, response.content
    project = Project.objects.get(name="shop")
    assert response.json()["config_hash"] == project.config_hash == workflow.config_hash(project)
    assert project.cluster.name == "deployments.shop"
    steps = [(s["id"], s["satellite"]) for s in project.cluster.spec["steps"]]
    assert steps == [("sync", "git.sync"), ("compose_up", "ssh.exec"), ("health_api", "http.request")]
    assert project.cluster.spec["steps"][1]["inputs"]["argv"] == ["docker", "compose", "up", "-d", "--remove-orphans"]
    # A change is a new cluster version and a new hash; the host's key is part of the hash.
    before = project.config_hash
    response = client.patch("/api/v1/projects/shop", {"deploy_steps": [["make", "deploy"]]}, format="json")
    assert response.status_code == 200, response.content
    project.refresh_from_db()
    assert project.config_hash != before and project.cluster.version == 2
    assert [s["inputs"]["argv"] for s in project.cluster.spec["steps"][:1]] == [["make", "deploy"]]
    changed = project.config_hash
    services.host_update(host=host, host_key=" ".join(OTHER_HOST_KEY.split()[:1] + [host.host_key.split()[1]]),
                         port=2200)
    project.refresh_from_db()
    assert project.config_hash != changed
    audits = AuditEvent.objects.filter(target_type="deployments.project").values_list("action", "changes")
    assert [a for a, _ in audits.order_by("created_at")] == ["project.create", "project.update"]
    assert all(changes["config_hash"] for _, changes in audits)


def test_a_service_with_the_longest_name_gets_a_health_step(client, tenant):
    make_host(tenant)
    services_ = [{"name": "x" * 63, "healthcheck_url": "https://a.example/health"},
                 {"name": "api", "healthcheck_url": "https://b.example/health"}]
    body = {"name": "shop", "host": "web", "directory": "/srv/shop", "services": services_}
    assert client.post("/api/v1/projects", body, format="json").status_code == 201
    steps = [s["id"] for s in Project.objects.get(name="shop").cluster.spec["steps"]]
    assert steps == ["compose_up", "health-0", "health_api"]


@pytest.mark.parametrize("field, value", [
    ("name", "Shop"), ("directory", "srv/shop"), ("directory", "/srv/../etc"), ("host", "nowhere"),
    ("services", [{"name": "api", "log_file": "../../etc/passwd"}]), ("services", [{"name": "api", "log_file": "/x"}]),
    ("deploy_steps", ["docker compose up"]), ("deploy_steps", [["docker", "compose", "up", 3]]),
    ("repository", "ext::sh -c touch% /tmp/pwned"), ("repository", "--upload-pack=touch"), ("branch", "-f"),
    ("branch", "a..b"), ("services", [{"name": "api", "restart": "docker restart api"}]),
])
def test_a_bad_project_field_is_400_and_saves_nothing(client, tenant, field, value):
    make_host(tenant)
    body = {"name": "shop", "host": "web", "directory": "/srv/shop", field: value}
    response = client.post("/api/v1/projects", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]
    assert not Project.objects.exists()


def test_another_tenants_host_and_project_are_404(client, tenant, other_tenant):
    foreign = make_project(other_tenant, make_host(other_tenant))
    assert client.get(f"/api/v1/hosts/{foreign.host_id}").status_code == 404
    assert client.get("/api/v1/projects/app").status_code == 404
    assert client.post("/api/v1/projects/app/deploy").status_code == 404
    assert client.get("/api/v1/projects/app/deployments").status_code == 404
    # Nor can a project name another tenant's host.
    response = client.post("/api/v1/projects", {"name": "x", "host": "web", "directory": "/srv/x"}, format="json")
    assert response.status_code == 400
    assert client.get("/api/v1/hosts").json()["count"] == 0


def test_a_host_in_use_cannot_be_deleted(client, tenant):
    host = make_host(tenant)
    make_project(tenant, host)
    assert client.delete(f"/api/v1/hosts/{host.pk}").status_code == 409
    assert client.delete("/api/v1/projects/app").status_code == 204
    assert client.delete(f"/api/v1/hosts/{host.pk}").status_code == 204


def test_a_deploy_is_a_run_of_the_project_cluster_and_later_requests_fold_into_one_follow_up(client, tenant, admin):
    project = make_project(tenant, make_host(tenant), deploy_steps=[["true"]])
    first = client.post("/api/v1/projects/app/deploy")
    assert first.status_code == 202, first.content
    body = first.json()
    assert body["status"] == "running" and body["requested_by"] == admin.email
    assert body["config_hash"] == project.config_hash
    run = Run.objects.get(pk=body["run_id"])
    assert run.cluster_id == project.cluster_id
    second, third = client.post("/api/v1/projects/app/deploy"), client.post("/api/v1/projects/app/deploy")
    assert second.status_code == third.status_code == 202
    assert second.json()["id"] == third.json()["id"] != body["id"]
    assert second.json()["status"] == "queued" and second.json()["run_id"] is None
    # The running deploy ends (here: cancelled): the follow-up starts as a run of its own.
    orchestration_services.run_cancel(run=run)
    assert Deployment.objects.get(pk=body["id"]).status == "cancelled"
    follow_up = Deployment.objects.get(pk=second.json()["id"])
    assert follow_up.status == "running" and follow_up.run_id not in (None, run.pk) and follow_up.requests == 2
    history = client.get("/api/v1/projects/app/deployments").json()
    assert [d["id"] for d in history["results"]] == [str(follow_up.pk), body["id"]]
    assert [d["id"] for d in client.get("/api/v1/projects/app/deployments?status=cancelled").json()["results"]] == [
        body["id"]]
    assert client.get("/api/v1/projects/app/deployments?status=nope").status_code == 400
    assert client.get("/api/v1/projects?host=web").json()["count"] == 1
    assert client.get("/api/v1/projects?host=other&enabled=true").json()["count"] == 0
    detail = client.get(f"/api/v1/projects/app/deployments/{follow_up.pk}").json()
    assert detail["run_id"] == str(follow_up.run_id)
    audits = AuditEvent.objects.filter(action="project.deploy").order_by("created_at")
    assert [(a.changes["follow_up"], a.changes["config_hash"]) for a in audits] == [
        (False, project.config_hash), (True, project.config_hash), (True, project.config_hash)]
    assert {a.actor_id for a in audits} == {admin.pk}


def test_a_deleted_deploy_cluster_is_written_again_at_the_next_deploy(client, tenant):
    project = make_project(tenant, make_host(tenant), deploy_steps=[["true"]])
    orchestration_services.cluster_delete(cluster=project.cluster)
    response = client.post("/api/v1/projects/app/deploy")
    assert response.status_code == 202, response.content
    project.refresh_from_db()
    assert Run.objects.get(pk=response.json()["run_id"]).cluster_id == project.cluster_id is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_deploy_requests_make_one_deploy_and_exactly_one_follow_up(tenant):
    project = make_project(tenant, make_host(tenant), deploy_steps=[["true"]])
    barrier, answers, errors = threading.Barrier(8), [], []

    def request():
        try:
            barrier.wait()
            answers.append(services.deployment_request(project=project).pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    deployments = list(Deployment.objects.filter(project=project))
    assert len(deployments) == 2
    running = next(d for d in deployments if d.run_id)
    follow_up = next(d for d in deployments if not d.run_id)
    assert running.status == "running" and follow_up.status == "queued"
    assert answers.count(running.pk) == 1 and answers.count(follow_up.pk) == 7
    assert follow_up.requests == 7
    assert Run.objects.filter(cluster=project.cluster).count() == 1


def test_reconcile_deploys_what_changed_since_the_last_good_deploy(client, tenant):
    host = make_host(tenant)
    deployed = make_project(tenant, host, name="deployed", deploy_steps=[["true"]])
    Deployment.objects.create(tenant=tenant, project=deployed, status="succeeded", config_hash=deployed.config_hash,
                              requested_by="test")
    changed = make_project(tenant, host, name="changed", deploy_steps=[["true"]])
    make_project(tenant, host, name="disabled", enabled=False)
    response = client.post("/api/v1/reconcile")
    assert response.status_code == 202, response.content
    body = response.json()
    assert [d["project"] for d in body["deployments"]] == ["changed"] and body["unchanged"] == ["deployed"]
    assert body["deployments"][0]["status"] == "running"
    # Again at once: the change is under way already, nothing new starts.
    again = client.post("/api/v1/reconcile").json()
    assert again["deployments"] == [] and sorted(again["unchanged"]) == ["changed", "deployed"]
    assert Deployment.objects.filter(project=changed).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_reconciles_run_one_at_a_time_and_deploy_each_change_once(tenant):
    host = make_host(tenant)
    names = [f"p{i}" for i in range(3)]
    for name in names:
        make_project(tenant, host, name=name, deploy_steps=[["true"]])
    barrier, results, errors = threading.Barrier(4), [], []

    def reconcile():
        try:
            barrier.wait()
            results.append(services.reconcile(tenant=tenant))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reconcile) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    deployed = sorted(d.project.name for result in results for d in result["deployments"])
    assert deployed == names  # each change deployed by exactly one of the reconciles
    assert Deployment.objects.filter(project__tenant=tenant).count() == 3
    assert not Deployment.objects.filter(run__isnull=True).exists()  # and no follow-up


def test_a_deploy_past_its_timeout_fails_and_opens_an_incident_the_alert_channels_deliver(
        tenant, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.core import mail
    from django.utils import timezone

    from monitoring import alerts
    from monitoring.models import AlertDelivery, Incident

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    alerts.alert_channel_create(tenant=tenant, name="oncall", kind="email", email="oncall@example.com")
    project = make_project(tenant, make_host(tenant), deploy_steps=[["sleep", "600"]], timeout_seconds=60)
    first = services.deployment_request(project=project)
    follow_up = services.deployment_request(project=project)
    with django_capture_on_commit_callbacks(execute=False):  # deliver in-process below, not via the broker
        assert services.deployments_expire(now=timezone.now() + timedelta(seconds=61)) == 1
    first.refresh_from_db()
    assert first.status == "failed" and "timeout of 60s" in first.error
    assert Run.objects.get(pk=first.run_id).status == "cancelled"
    incident = Incident.objects.get(pk=first.incident_id)
    assert incident.state == "open" and incident.tenant_id == tenant.pk and incident.subject == "other"
    for delivery in AlertDelivery.objects.filter(incident=incident):
        assert alerts.alert_delivery_attempt(delivery_id=delivery.pk) is True
    assert [m.subject for m in mail.outbox] == ["[Groundstation] OPEN: Deploy of app timed out"]
    assert "timeout of 60s" in mail.outbox[0].body
    follow_up.refresh_from_db()
    assert follow_up.status == "running" and follow_up.run_id
    # The follow-up succeeds (its run told so, late: the sweep catches up): the incident is resolved.
    Run.objects.filter(pk=follow_up.run_id).update(status="succeeded", finished_at=timezone.now())
    assert services.deployments_follow_ended() == 1
    follow_up.refresh_from_db()
    incident.refresh_from_db()
    assert follow_up.status == "succeeded" and incident.state == "resolved"


def test_a_deploy_with_the_same_idempotency_key_is_replayed_not_folded(client, tenant):
    make_project(tenant, make_host(tenant), deploy_steps=[["true"]])
    first = client.post("/api/v1/projects/app/deploy", HTTP_IDEMPOTENCY_KEY="deploy-1")
    again = client.post("/api/v1/projects/app/deploy", HTTP_IDEMPOTENCY_KEY="deploy-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Deployment.objects.count() == 1
    other = client.post("/api/v1/projects/app/deploy", HTTP_IDEMPOTENCY_KEY="deploy-2")
    assert other.json()["id"] != first.json()["id"] and other.json()["run_id"] is None  # the follow-up


@pytest.mark.parametrize("path", ["/api/v1/hosts/------------------------------------",
                                  "/api/v1/projects/%00", "/api/v1/projects/%C3%BC/deployments",
                                  "/api/v1/projects/app/deployments/zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
                                  "/api/v1/projects/app/deployments/------------------------------------"])
def test_an_id_or_name_that_cannot_exist_is_404(client, tenant, path):
    make_project(tenant, make_host(tenant))
    response = client.get(path)
    assert response.status_code == 404, response.content
    assert response.json()["error"]["code"] == "NOT_FOUND"
