"""The deployments console: pages render (public key shown, private key never), forms check as
the API does, trust-on-first-use is set here only, the deploy action asks first."""
import pytest
from django.test import Client

from deployments import services
from deployments.models import Deployment, Host, Project
from tests.deployments.factories import OTHER_HOST_KEY, make_host, make_project
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def console(db):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_pages_render_and_show_the_public_key_never_the_private_one(console, tenant):
    host = make_host(tenant)
    project = make_project(tenant, host, deploy_steps=[["true"]])
    deployment = services.deployment_request(project=project)
    key = services.deploy_key_get_or_create(tenant=tenant)
    pages = ["/admin/deployments/host/", f"/admin/deployments/host/{host.pk}/change/", "/admin/deployments/project/",
             f"/admin/deployments/project/{project.pk}/change/", "/admin/deployments/deployment/",
             f"/admin/deployments/deployment/{deployment.pk}/change/", "/admin/deployments/deploykey/",
             f"/admin/deployments/deploykey/{key.pk}/change/"]
    for url in pages:
        response = console.get(url)
        assert response.status_code == 200, url
        assert key.private_key_encrypted not in response.content.decode()
    assert key.public_key in console.get(f"/admin/deployments/host/{host.pk}/change/").content.decode()
    history = console.get(f"/admin/deployments/deployment/{deployment.pk}/change/").content.decode()
    assert f"/admin/orchestration/run/{deployment.run_id}/change/" in history
    assert "running" in console.get("/admin/deployments/project/").content.decode()


def host_form(tenant, **fields):
    return {"tenant": tenant.pk, "name": "web", "address": "192.0.2.10", "port": 22, "username": "deploy",
            "host_key": OTHER_HOST_KEY, **fields}


def test_a_host_added_in_the_admin_is_checked_as_the_api_checks_it(console, tenant):
    response = console.post("/admin/deployments/host/add/", host_form(tenant, name="Web_1", host_key="nope"))
    assert response.status_code == 200 and not Host.objects.exists()
    assert response.context["adminform"].form.errors.keys() >= {"name", "host_key"}
    response = console.post("/admin/deployments/host/add/", host_form(tenant, host_key=""))
    assert response.status_code == 200 and not Host.objects.exists()  # no pin and no trust-on-first-use
    response = console.post("/admin/deployments/host/add/", host_form(tenant, host_key="", trust_on_first_use="on"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    host = Host.objects.get()
    assert host.trust_on_first_use and host.host_key == ""


def test_a_project_form_refuses_a_traversing_log_file(console, tenant):
    host = make_host(tenant)
    form = {"tenant": tenant.pk, "host": host.pk, "name": "app", "directory": "/srv/app", "repository": "",
            "branch": "", "services": '[{"name": "web", "log_file": "../../etc/shadow"}]', "deploy_steps": "null",
            "enabled": "on", "timeout_seconds": 900}
    response = console.post("/admin/deployments/project/add/", form)
    assert response.status_code == 200 and not Project.objects.exists()
    form["services"] = '[{"name": "web", "log_file": "logs/web.log"}]'
    response = console.post("/admin/deployments/project/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    project = Project.objects.get()
    assert project.cluster is not None and project.config_hash


def test_the_deploy_action_asks_first_then_deploys(console, tenant):
    project = make_project(tenant, make_host(tenant), deploy_steps=[["true"]])
    data = {"action": "deploy", "_selected_action": [str(project.pk)]}
    response = console.post("/admin/deployments/project/", {**data, "index": "0"})
    assert response.status_code == 200 and "Deploy these projects?" in response.content.decode()
    assert not Deployment.objects.exists()
    response = console.post("/admin/deployments/project/", {**data, "post": "yes"})
    assert response.status_code == 302
    deployment = Deployment.objects.get()
    assert deployment.trigger == "admin" and deployment.run_id and deployment.requested_by.endswith("@example.com")
