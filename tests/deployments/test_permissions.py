"""The permission matrix of the deployments API (tests/matrix.py): roles, key scopes, anonymous,
another tenant (404) and a suspended tenant, for every endpoint, from the policy table."""
from deployments import services
from tenants.policy import Action
from tests.deployments.factories import OTHER_HOST_KEY, make_host, make_project
from tests.matrix import Case, PermissionMatrix

HOST = {"name": "new", "address": "192.0.2.20", "username": "deploy", "host_key": OTHER_HOST_KEY}
PROJECT = {"name": "new", "host": "web", "directory": "/srv/new"}


class TestDeploymentsPermissionMatrix(PermissionMatrix):
    cases = [
        Case("list hosts", "get", "/api/v1/hosts", Action.READ, 200),
        Case("get a host", "get", "/api/v1/hosts/{host}", Action.READ, 200),
        Case("deploy key", "get", "/api/v1/hosts/deploy-key", Action.READ, 200),
        Case("add a host", "post", "/api/v1/hosts", Action.CONFIGURE_DEPLOYMENTS, 201, body=HOST),
        Case("change a host", "patch", "/api/v1/hosts/{host}", Action.CONFIGURE_DEPLOYMENTS, 200, body={"port": 2222}),
        Case("remove a host", "delete", "/api/v1/hosts/{spare_host}", Action.CONFIGURE_DEPLOYMENTS, 204),
        Case("list projects", "get", "/api/v1/projects", Action.READ, 200),
        Case("get a project", "get", "/api/v1/projects/{project}", Action.READ, 200),
        Case("add a project", "post", "/api/v1/projects", Action.CONFIGURE_DEPLOYMENTS, 201, body=PROJECT),
        Case("change a project", "patch", "/api/v1/projects/{project}", Action.CONFIGURE_DEPLOYMENTS, 200,
             body={"enabled": False}),
        Case("delete a project", "delete", "/api/v1/projects/{spare_project}", Action.CONFIGURE_DEPLOYMENTS, 204),
        Case("deploy", "post", "/api/v1/projects/{project}/deploy", Action.DEPLOY, 202),
        Case("history", "get", "/api/v1/projects/{project}/deployments", Action.READ, 200),
        Case("one deployment", "get", "/api/v1/projects/{project}/deployments/{deployment}", Action.READ, 200),
        Case("reconcile", "post", "/api/v1/reconcile", Action.DEPLOY, 202),
    ]

    def make_data(self, tenant, actor) -> dict:
        host = make_host(tenant)
        project = make_project(tenant, host, deploy_steps=[["true"]])
        make_project(tenant, host, name="spare")
        deployment = services.deployment_request(project=project)
        return {"host": host.pk, "spare_host": make_host(tenant, name="unused").pk, "project": project.name,
                "spare_project": "spare", "deployment": deployment.pk}
